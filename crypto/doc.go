// Package crypto seals chat records that Cloakroom keeps in memory.
//
// # Construction
//
// A [Box] is made from a current 32-byte master key and any number of older
// ones. From each master key, HKDF-SHA-256 derives a separate encryption key
// and MAC key for every room; the room id goes into the HKDF info field
// behind a length prefix, so no two rooms can share keys. HKDF also derives,
// under a label of its own, an 8-byte key id, which names the key in every
// record without telling anything about it. [Box.Seal] encrypts a record
// under the current key with AES-256-CBC and PKCS#7 padding under a fresh
// random 16-byte IV, then computes a full 32-byte HMAC-SHA-256 tag over the
// version byte, the key id, the associated data, the IV and the ciphertext
// (encrypt-then-MAC). A sealed record is
//
//	version (1 byte, = 2) ‖ key id (8) ‖ IV (16) ‖ ciphertext (16·n) ‖ tag (32)
//
// and the tag covers
//
//	version ‖ key id ‖ len(ad) as 8-byte big endian ‖ ad ‖ IV ‖ ciphertext.
//
// Version 1 records had no key id. They lived only in the memory of the
// process that sealed them, under a key that died with it, so a Box opens
// version 2 records only.
//
// [Box.Open] finds the key the record's key id names among the Box's keys,
// checks the tag before it decrypts anything, and answers every failure,
// an unknown key id included, with the same error, [ErrOpen], so that a
// caller who feeds it forged records learns nothing about why one was
// refused.
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
// Without a key file the application creates its master key with [NewKey],
// which reads crypto/rand, once at start-up, and never writes it to disk,
// logs or error messages. That key exists only in memory, so a restart
// erases it and, with it, all history: records sealed before the restart can
// no longer be opened, by design.
//
// An operator may instead give a key in a file (read with [ParseKey]), so
// that several processes, or one process after a restart, share it. To
// rotate, the new key becomes the current one and the previous one is given
// as an old key: records sealed under either open, and new records are
// sealed under the new key only. History is still kept only in memory, so a
// restart erases it with a key file too; the key id matters wherever records
// outlive a process (a shared store).
package crypto
