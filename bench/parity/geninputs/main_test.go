package main

import (
	"math"
	"math/rand/v2"
	"strconv"
	"testing"
)

func TestJavaDouble(t *testing.T) {
	cases := map[float64]string{
		0:                    "0.0",
		math.Copysign(0, -1): "-0.0",
		50:                   "50.0",
		-49:                  "-49.0",
		15.277777777777777:   "15.277777777777777",
		0.001:                "0.001",
		0.000999:             "9.99E-4",
		1e-4:                 "1.0E-4",
		9999999.5:            "9999999.5",
		1e7:                  "1.0E7",
		1.00000505e7:         "1.00000505E7",
		1.2345678912e10:      "1.2345678912E10",
		-2.5e-300:            "-2.5E-300",
		math.Inf(1):          "Infinity",
		math.NaN():           "NaN",
	}
	for d, want := range cases {
		if got := javaDouble(d); got != want {
			t.Errorf("javaDouble(%v) = %q, want %q", d, got, want)
		}
	}
	r := rand.New(rand.NewPCG(1, 2))
	for i := 0; i < 10000; i++ {
		d := math.Float64frombits(r.Uint64())
		if math.IsNaN(d) || math.IsInf(d, 0) {
			continue
		}
		back, err := strconv.ParseFloat(javaDouble(d), 64)
		if err != nil || back != d {
			t.Fatalf("%v -> %q -> %v, %v", d, javaDouble(d), back, err)
		}
	}
}

func TestJavaRandom(t *testing.T) {
	// new java.util.Random(42).nextInt() == -1170105035
	if got := newJavaRandom(42).next(32); got != -1170105035 {
		t.Fatalf("next(32) = %d", got)
	}
}

func TestGenerators(t *testing.T) {
	g := genEvents(2500, 1000, 1, 100)
	if len(g) != 2500 || g[0].speed != 50+5 && g[0].speed != 50-5 || g[1000].ts != epoch+100 || g[2499].car != 499 {
		t.Fatalf("unexpected gen output: %v %v %v", g[0], g[1000], g[2499])
	}
	if want := float64(g[0].speed) / 3.6; g[0].distance != want {
		t.Fatalf("first distance %v, want %v", g[0].distance, want)
	}
	a, b := randomEvents(3000, 20, 42), randomEvents(3000, 20, 42)
	for i := range a {
		if a[i] != b[i] {
			t.Fatalf("randomEvents not deterministic at %d", i)
		}
	}
	if e := edgeEvents(); len(e) < 100 {
		t.Fatalf("edge has %d events", len(e))
	}
}
