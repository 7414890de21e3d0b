// Package handlers is Cloakroom's HTTP surface: the Echo routes, the session
// cookie, the pages and the rooms' Server-Sent Event streams. routes.go lists
// every route; each handler lives in a file named after what it does.
package handlers
