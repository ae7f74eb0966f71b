package topspeed

import (
	"encoding/binary"
	"errors"
	"math"
)

// carCodec encodes a Car for checkpoints in 24 little-endian bytes: id,
// speed, distance bits, time. It is what window.FixedCodec[Car] produces,
// without reflection (checkpoints of a million cars encode millions).
type carCodec struct{}

const carBytes = 24

func (carCodec) Append(dst []byte, c Car) []byte {
	dst = binary.LittleEndian.AppendUint32(dst, uint32(c.ID))
	dst = binary.LittleEndian.AppendUint32(dst, uint32(c.Speed))
	dst = binary.LittleEndian.AppendUint64(dst, math.Float64bits(c.Distance))
	return binary.LittleEndian.AppendUint64(dst, uint64(c.Time))
}

var errShortCar = errors.New("topspeed: truncated car in checkpoint")

func (carCodec) Decode(src []byte) (Car, int, error) {
	if len(src) < carBytes {
		return Car{}, 0, errShortCar
	}
	return Car{
		ID:       int32(binary.LittleEndian.Uint32(src)),
		Speed:    int32(binary.LittleEndian.Uint32(src[4:])),
		Distance: math.Float64frombits(binary.LittleEndian.Uint64(src[8:])),
		Time:     int64(binary.LittleEndian.Uint64(src[16:])),
	}, carBytes, nil
}
