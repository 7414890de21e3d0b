//go:build !unix

package main

// keyFileOpenFlag is added to the flags a key file is opened with: nothing
// here (see keyfile_unix.go).
const keyFileOpenFlag = 0
