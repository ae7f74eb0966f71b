package tester_test

import (
	"fmt"

	"github.com/topspeed/topspeed/engine"
	"github.com/topspeed/topspeed/job/topspeed"
	"github.com/topspeed/topspeed/tester"
)

// The TopSpeed job on a few hand-written car reports. Per car, the first
// report is stored without firing; a later report fires when the car has
// travelled strictly more than 50 m since the last report that fired (or
// the first one); a firing first drops the reports 10 s or more older than
// the car's newest, then emits the fastest remaining one, the earliest
// among equals.
//
//   - Car 2: (2,40,51,1500) is 51 m past the first report, so it fires; both
//     reports have speed 40, and the earlier one wins. (2,40,101,2500) is
//     only 50 m further: no firing.
//   - Car 1: (1,60,60,2000) is 60 m past the first report and fires over
//     the reports at 0, 1000 and 2000 ms: the fastest is (1,70,30,1000).
//     (1,90,100,13000) is 40 m further: no firing. (1,80,115,14000) is 55 m
//     past the last firing: the reports at or before 14000-10000 ms are
//     dropped and the fastest of the rest is (1,90,100,13000).
//     (1,80,170,15000) fires again, with the same result.
func Example() {
	cars := []topspeed.Car{
		{ID: 1, Speed: 50, Distance: 0, Time: 0},
		{ID: 2, Speed: 40, Distance: 0, Time: 500},
		{ID: 1, Speed: 70, Distance: 30, Time: 1000},
		{ID: 2, Speed: 40, Distance: 51, Time: 1500},
		{ID: 1, Speed: 60, Distance: 60, Time: 2000},
		{ID: 2, Speed: 40, Distance: 101, Time: 2500},
		{ID: 1, Speed: 90, Distance: 100, Time: 13000},
		{ID: 1, Speed: 80, Distance: 115, Time: 14000},
		{ID: 1, Speed: 80, Distance: 170, Time: 15000},
	}
	// In a test: got := tester.Run(t, cars, build).
	got, err := tester.RunE(cars, func(s engine.Stream[topspeed.Car]) engine.Stream[topspeed.Car] {
		return topspeed.Build(s, topspeed.DefaultConfig())
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, c := range got {
		fmt.Println(string(topspeed.AppendCar(nil, c)))
	}
	// Output:
	// (2,40,0.0,500)
	// (1,70,30.0,1000)
	// (1,90,100.0,13000)
	// (1,90,100.0,13000)
}

// With parallelism > 1 only the order of each key's records is defined:
// compare per key.
func ExampleGroupBy() {
	words := []string{"apple", "avocado", "banana", "apricot", "blueberry"}
	byInitial := tester.GroupBy(words, func(w string) byte { return w[0] })
	fmt.Println(byInitial['a'])
	fmt.Println(byInitial['b'])
	// Output:
	// [apple avocado apricot]
	// [banana blueberry]
}
