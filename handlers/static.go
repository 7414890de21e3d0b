package handlers

import (
	"net/http"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/cloakroom/cloakroom/static"
)

// staticFiles serves the embedded assets. Vendored files carry their version
// in their name and can be cached for good; the application's own are
// revalidated.
func staticFiles() echo.HandlerFunc {
	files := http.StripPrefix("/static/", http.FileServerFS(static.Files))
	return func(c echo.Context) error {
		name := strings.TrimPrefix(c.Request().URL.Path, "/static/")
		if name == "" || strings.HasSuffix(name, "/") {
			return echo.ErrNotFound // no directory listings
		}
		if name == static.HTMX || name == static.HTMXSSE {
			c.Response().Header().Set("Cache-Control", "public, max-age=31536000, immutable")
		} else {
			c.Response().Header().Set("Cache-Control", "no-cache")
		}
		files.ServeHTTP(c.Response(), c.Request())
		return nil
	}
}

func favicon(c echo.Context) error {
	return c.Redirect(http.StatusMovedPermanently, "/static/"+static.Favicon)
}
