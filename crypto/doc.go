// Package crypto seals chat records that Cloakroom keeps in memory.
//
// # Construction
//
// A [Box] is made from one 32-byte master key. From it, HKDF-SHA-256 derives a
// separate encryption key and MAC key for every room; the room id goes into
// the HKDF info field behind a length prefix, so no two rooms can share keys.
// [Box.Seal] encrypts a record with AES-256-CBC and PKCS#7 padding under a
// fresh random 16-byte IV, then computes a full 32-byte HMAC-SHA-256 tag over
// the version byte, the associated data, the IV and the ciphertext
// (encrypt-then-MAC). A sealed record is
//
//	version (1 byte, = 1) ‖ IV (16) ‖ ciphertext (16·n) ‖ tag (32)
//
// and the tag covers
//
//	version ‖ len(ad) as 8-byte big endian ‖ ad ‖ IV ‖ ciphertext.
//
// [Box.Open] checks the tag before it decrypts anything and answers every
// failure with the same error, [ErrOpen], so that a caller who feeds it forged
// records learns nothing about why one was refused.
//
// [EncryptCBC] and [DecryptCBC] expose the unauthenticated AES-256-CBC +
// PKCS#7 primitive on its own. On its own it is malleable and must not be used
// to protect data against tampering; it exists so that the primitive can be
// checked against published test vectors.
//
// # What it protects
//
//   - Records at rest in the server's memory: a heap dump or a stray copy of
//     a record shows only ciphertext.
//   - Tampering: any change to a record, however small, makes Open fail.
//   - Moving records: associated data binds a record to its place (room,
//     sequence number, sender, time), and each room has its own keys, so a
//     record copied into another room or position does not open there.
//
// # What it does not protect
//
//   - This is not end-to-end encryption. The server encrypts and decrypts, so
//     the server itself sees every plaintext, and anyone who controls the
//     server process does too.
//   - The master key lives in the same process memory as the records it
//     protects; whoever can read all of that memory can read the history.
//   - Record lengths are visible, rounded up to the next 16 bytes.
//
// # Keys
//
// The application creates its master key with [NewKey], which reads
// crypto/rand, once at start-up, and never writes it to disk, logs or error
// messages. The key exists only in memory, so a restart erases the key and,
// with it, all history: records sealed before the restart can no longer be
// opened, by design.
package crypto
