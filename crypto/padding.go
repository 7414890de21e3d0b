package crypto

import "crypto/subtle"

// paddedLen returns the length of an n-byte message after PKCS#7 padding.
// PKCS#7 always adds at least one byte, so a whole block of padding follows a
// message that already fills its last block.
func paddedLen(n int) int {
	return n + blockSize - n%blockSize
}

// pad fills buf[n:] with PKCS#7 padding; len(buf) must be paddedLen(n).
// Branching here is fine: the padding length follows from the message
// length, which the ciphertext length reveals anyway.
func pad(buf []byte, n int) {
	p := byte(len(buf) - n)
	for i := n; i < len(buf); i++ {
		buf[i] = p
	}
}

// unpad returns the length of the message inside a PKCS#7-padded buffer and
// whether the padding is valid; the length is 0 when it is not. It reads the whole last block and decides
// without branching on its contents, so its timing does not tell an attacker
// how close a forged ciphertext came to valid padding. Only len(buf), which
// is public, is branched on.
func unpad(buf []byte) (int, bool) {
	if len(buf) == 0 || len(buf)%blockSize != 0 {
		return 0, false
	}
	last := buf[len(buf)-blockSize:]
	p := int(last[blockSize-1])

	// The pad length must be 1…16 …
	good := subtle.ConstantTimeLessOrEq(1, p) & subtle.ConstantTimeLessOrEq(p, blockSize)
	// … and each of the last p bytes must equal p. Position i counts from
	// the end; positions beyond p are looked at too but do not count.
	for i := 1; i <= blockSize; i++ {
		inPad := subtle.ConstantTimeLessOrEq(i, p)
		same := subtle.ConstantTimeByteEq(last[blockSize-i], byte(p))
		good &= subtle.ConstantTimeSelect(inPad, same, 1)
	}
	return subtle.ConstantTimeSelect(good, len(buf)-p, 0), good == 1
}
