// Package views holds Cloakroom's templ components: the pages and the HTML
// fragments that a room's event stream carries. It only presents; it reads
// chat's types and calls nothing.
package views
