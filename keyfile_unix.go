//go:build unix

package main

import "syscall"

// keyFileOpenFlag is added to the flags a key file is opened with. Opening
// a FIFO for reading blocks until a writer comes, for ever if none does,
// and a process stuck in open(2) does not act on SIGTERM either; with
// O_NONBLOCK the open returns at once, and the file's type is checked
// before anything is read (see readKeyFile). It changes nothing for a
// regular file.
const keyFileOpenFlag = syscall.O_NONBLOCK
