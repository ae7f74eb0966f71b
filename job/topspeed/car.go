// Package topspeed is the TopSpeed job: Flink's TopSpeedWindowing example
// (keyBy car, global window, 10 s time evictor, 50 m delta trigger, maxBy
// speed), built only from topspeed's public packages.
package topspeed

// Car is one report of a car: Flink's Tuple4<Integer, Integer, Double, Long>.
type Car struct {
	// ID is the car's id (Tuple4.f0).
	ID int32
	// Speed is the speed in km/h (f1).
	Speed int32
	// Distance is the distance travelled in metres (f2).
	Distance float64
	// Time is the event time in Unix milliseconds (f3).
	Time int64
}
