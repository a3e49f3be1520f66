package csvin

import "strconv"

// parseInt is strconv.ParseInt(s, 10, 64), with the common cell (1 to 18
// plain digits) read in one loop: the page's wasm runs a profile's parse
// before its code is optimized, where strconv's general path (sign,
// underscores, bases, overflow) cost several times the digits' own work.
func parseInt(s string) (int64, error) {
	if len(s) == 0 || len(s) > 18 {
		return strconv.ParseInt(s, 10, 64)
	}
	var v int64
	for i := 0; i < len(s); i++ {
		d := s[i] - '0'
		if d > 9 {
			return strconv.ParseInt(s, 10, 64)
		}
		v = v*10 + int64(d)
	}
	return v, nil
}

// pow10 are the powers of ten a float64 holds exactly.
var pow10 = [...]float64{1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10,
	1e11, 1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22}

// parseFloat is strconv.ParseFloat(s, 64), with the common cell (digits
// with at most one '.' between two of them, at most 15 significant digits
// and 22 after the point: "0.003907") computed directly: its digits m are
// exact in a float64, so is 10^k, and m / 10^k is one correctly rounded
// division, the float64 nearest the decimal, which is what ParseFloat
// returns (strconv takes the same exact path for such a number after its
// general scan). Anything else (a sign, an exponent, more digits) goes to
// strconv.
func parseFloat(s string) (float64, error) {
	n := len(s)
	if n == 0 || s[0]-'0' > 9 || s[n-1]-'0' > 9 {
		return strconv.ParseFloat(s, 64)
	}
	var m uint64
	digits, frac, dot := 0, 0, false
	for i := 0; i < n; i++ {
		c := s[i]
		switch {
		case c-'0' <= 9:
			if m > 0 || c != '0' {
				digits++
			}
			m = m*10 + uint64(c-'0')
			if dot {
				frac++
			}
		case c == '.' && !dot:
			dot = true
		default:
			return strconv.ParseFloat(s, 64)
		}
		if digits > 15 || frac > 22 {
			return strconv.ParseFloat(s, 64)
		}
	}
	return float64(m) / pow10[frac], nil
}
