package crypto

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/subtle"
	"errors"
)

const (
	// keySize is the length of every key this package takes: AES-256 keys,
	// HMAC-SHA-256 keys and the master key.
	keySize = 32

	// blockSize is the AES block size, which is also the IV length.
	blockSize = aes.BlockSize
)

// ErrInvalidCiphertext is returned by DecryptCBC for every malformed
// ciphertext: empty, not a whole number of blocks, or badly padded. One value
// for all of them keeps the reason from becoming a padding oracle.
var ErrInvalidCiphertext = errors.New("crypto: invalid ciphertext")

var (
	errKeySize = errors.New("crypto: key must be 32 bytes")
	errIVSize  = errors.New("crypto: IV must be 16 bytes")
)

// EncryptCBC encrypts plaintext with AES-256 in CBC mode after adding PKCS#7
// padding, and returns a new slice of ciphertext. The key must be 32 bytes and
// the IV 16 bytes. The result is not authenticated; use Box to seal data.
func EncryptCBC(key, iv, plaintext []byte) ([]byte, error) {
	block, err := newAES256(key)
	if err != nil {
		return nil, err
	}
	if len(iv) != blockSize {
		return nil, errIVSize
	}
	out := make([]byte, paddedLen(len(plaintext)))
	copy(out, plaintext)
	pad(out, len(plaintext))
	encryptBlocks(block, iv, out, out)
	return out, nil
}

// DecryptCBC decrypts AES-256-CBC ciphertext and removes its PKCS#7 padding.
// The key must be 32 bytes and the IV 16 bytes. Any ciphertext that does not
// decrypt to a correctly padded plaintext yields ErrInvalidCiphertext.
func DecryptCBC(key, iv, ciphertext []byte) ([]byte, error) {
	block, err := newAES256(key)
	if err != nil {
		return nil, err
	}
	if len(iv) != blockSize {
		return nil, errIVSize
	}
	if len(ciphertext) == 0 || len(ciphertext)%blockSize != 0 {
		return nil, ErrInvalidCiphertext
	}
	out := make([]byte, len(ciphertext))
	decryptBlocks(block, iv, out, ciphertext)
	n, ok := unpad(out)
	if !ok {
		return nil, ErrInvalidCiphertext
	}
	return out[:n], nil
}

// newAES256 returns the AES block cipher for key, refusing any key that is
// not exactly 32 bytes: crypto/aes would silently accept AES-128 or AES-192
// keys. The error never mentions the key itself.
func newAES256(key []byte) (cipher.Block, error) {
	if len(key) != keySize {
		return nil, errKeySize
	}
	return aes.NewCipher(key)
}

// encryptBlocks is the raw CBC core: it encrypts src into dst under block,
// chained from iv, with no padding. len(src) must be a whole number of blocks
// and dst at least as long; dst and src must be the same slice (Seal
// encrypts in place) or not overlap at all.
//
// The chaining is written out over cipher.Block rather than taken from
// cipher.NewCBCEncrypter because the latter copies the whole AES key
// schedule, about 500 bytes, into a new allocation on every call; for short
// chat messages that copy cost more than the encryption. The NIST CAVP and
// SP 800-38A vectors test this loop directly.
func encryptBlocks(block cipher.Block, iv, dst, src []byte) {
	prev := iv
	for i := 0; i < len(src); i += blockSize {
		d := dst[i : i+blockSize]
		subtle.XORBytes(d, src[i:i+blockSize], prev)
		block.Encrypt(d, d)
		prev = d
	}
}

// decryptBlocks is the inverse of encryptBlocks, with the same rules. It
// walks from the last block to the first so that, when decrypting in place,
// each ciphertext block is still intact when the block after it needs it as
// its chaining value.
func decryptBlocks(block cipher.Block, iv, dst, src []byte) {
	for i := len(src) - blockSize; i >= 0; i -= blockSize {
		prev := iv
		if i > 0 {
			prev = src[i-blockSize : i]
		}
		d := dst[i : i+blockSize]
		block.Decrypt(d, src[i:i+blockSize])
		subtle.XORBytes(d, d, prev)
	}
}
