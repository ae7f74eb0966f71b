package topspeed

import (
	"fmt"
	"math"
	"time"

	"github.com/topspeed/topspeed/engine"
	"github.com/topspeed/topspeed/window"
)

// Config holds the job's window parameters. They are part of a checkpoint's
// identity: state taken with other values cannot be restored.
type Config struct {
	// Evict keeps the reports of the last Evict of event time per car
	// (Flink's TimeEvictor.of(10 s)).
	Evict time.Duration
	// TriggerMeters fires a result when a car has travelled strictly more
	// than this since its last result (Flink's DeltaTrigger.of(50, ...)).
	TriggerMeters float64
}

// DefaultConfig returns Flink's example values: 10 s and 50 m.
func DefaultConfig() Config { return Config{Evict: 10 * time.Second, TriggerMeters: 50} }

// Validate reports a parameter that cannot work.
func (c Config) Validate() error {
	if c.Evict < time.Millisecond {
		return &SettingError{Setting: "evict", Value: c.Evict, Reason: "must be at least 1ms"}
	}
	if math.IsNaN(c.TriggerMeters) || math.IsInf(c.TriggerMeters, 0) || c.TriggerMeters < 0 {
		return &SettingError{Setting: "trigger meters", Value: c.TriggerMeters, Reason: "must be a finite number >= 0"}
	}
	return nil
}

// SettingError is the error of Config.Validate and
// GeneratorConfig.Validate: which setting is wrong, and why. A command
// maps Setting to its flag (see cmd/topspeed).
type SettingError struct {
	Of      string // "generator" for GeneratorConfig, "" for Config
	Setting string // "cars", "rate", "events", "interval", "start time", "evict", "trigger meters"
	Value   any
	Reason  string
}

func (e *SettingError) Error() string {
	of := ""
	if e.Of != "" {
		of = e.Of + " "
	}
	return fmt.Sprintf("topspeed: %s%s %v: %s", of, e.Setting, e.Value, e.Reason)
}

// CarTime returns a report's event time; use it for watermarks.
func CarTime(c Car) int64 { return c.Time }

// CarID returns a report's key.
func CarID(c Car) int32 { return c.ID }

func distanceDelta(old, cur Car) float64 { return cur.Distance - old.Distance }

func compareSpeed(a, b Car) int {
	switch {
	case a.Speed < b.Speed:
		return -1
	case a.Speed > b.Speed:
		return 1
	}
	return 0
}

// Build adds the TopSpeed computation to a stream of car reports and returns
// the stream of results: keyBy(carId), GlobalWindows, TimeEvictor(Evict)
// before the function, DeltaTrigger(TriggerMeters, distance delta) and
// maxBy(speed), with results identical to Flink's. It uses a fused window
// operator that is O(1) amortised per report and keeps per car only the
// reports that can still be a result. The evictor reads event time with
// CarTime (Spec sets it, overriding whatever timestamps cars declares):
// the job is defined on Car.Time, and it needs no watermarks, since the
// global window fires on the delta trigger alone, so cars may come from a
// source with or without a watermark strategy.
func Build(cars engine.Stream[Car], cfg Config) engine.Stream[Car] {
	keyed := engine.KeyBy(cars, CarID, engine.HashInt32)
	return window.ApplyDeltaTimeMax(keyed, StageName, Spec(cfg))
}

// StageName is the name of the job's keyed stage, under which its state is
// checkpointed.
const StageName = "top-speed"

// Spec returns the window specification of the job: Flink's
// TopSpeedWindowing as a fused DeltaTimeMax operator.
func Spec(cfg Config) window.DeltaTimeMaxSpec[Car] {
	return window.DeltaTimeMaxSpec[Car]{
		Timestamp: CarTime,
		Evict:     cfg.Evict,
		Threshold: cfg.TriggerMeters,
		Delta:     distanceDelta,
		Compare:   compareSpeed,
		Codec:     carCodec{},
	}
}
