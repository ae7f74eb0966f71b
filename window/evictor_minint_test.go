package window

import (
	"math"
	"slices"
	"testing"
)

// Near MinInt64 the cutoff (largest timestamp - size) saturates instead of
// wrapping to a huge positive value that would evict every element.
func TestTimeEvictorNearMinInt64(t *testing.T) {
	ctx := EvictorContext{HasTimestamps: true}
	got := TimeEvictor[int](10*ms, false).EvictBefore(elems(math.MinInt64+3, math.MinInt64+5), Window{}, ctx)
	if !slices.Equal(values(got), []int{0, 1}) {
		t.Fatalf("kept %v of two elements within 10 ms of each other", values(got))
	}
}
