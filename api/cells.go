package api

import (
	"github.com/infermeter/infermeter/meter"
)

// scan calls fn for every cell of org whose hour lies in [start, end)
// (unix seconds), limited to user when it is not "". It holds the meter's
// read lock: fn must be quick and must not keep the pointers.
func (a *API) scan(org, user string, start, end int64, fn func(k *meter.CellKey, c *meter.Cell)) {
	a.opt.Meter.View(func(cells map[meter.CellKey]*meter.Cell) {
		for k, c := range cells {
			if k.Org != org || k.Hour < start || k.Hour >= end || (user != "" && k.User != user) {
				continue
			}
			fn(&k, c)
		}
	})
}
