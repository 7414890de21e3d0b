package handlers

import (
	"cmp"
	"errors"
	"net/http"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/cloakroom/cloakroom/chat"
	"github.com/cloakroom/cloakroom/limits"
	"github.com/cloakroom/cloakroom/views"
)

// showJoinPage is the front page; ?room= and ?username= fill the form in.
func showJoinPage(c echo.Context) error {
	return render(c, http.StatusOK, views.JoinPage(views.JoinForm{
		Room:     c.QueryParam("room"),
		Username: c.QueryParam("username"),
	}))
}

// postJoin makes the browser a member of a room and sends it there. A
// refusal shows the form again with the reason next to its field. A client
// that asks for JSON joins as a bot instead (see joinBot). Past the client's
// joins per minute it is a 429.
func postJoin(hub *chat.Hub, lim *limits.Limits) echo.HandlerFunc {
	return func(c echo.Context) error {
		if err := spendJoin(c, lim); err != nil {
			return err
		}
		form, err := readForm(c)
		if err != nil {
			return err
		}
		f := views.JoinForm{Username: form.Get("username"), Room: strings.TrimSpace(form.Get("room"))}
		if wantsJSON(c) {
			return joinBot(c, hub, f.Room, f.Username)
		}
		room, roomErr := chat.RoomName(f.Room)
		_, _, nameErr := chat.Nickname(f.Username)
		if !wantsHTML(c) {
			// curl and scripts get the reason as one line, from the error
			// handler; only a browser gets the form again.
			if err := cmp.Or(roomErr, nameErr); err != nil {
				return err
			}
		}
		if roomErr != nil {
			f.RoomError = userMessage(roomErr, http.StatusBadRequest)
		}
		if nameErr != nil {
			f.UsernameError = userMessage(nameErr, http.StatusBadRequest)
		}
		if f.RoomError != "" || f.UsernameError != "" {
			return render(c, http.StatusBadRequest, views.JoinPage(f))
		}

		m, err := hub.Join(renewSession(c, hub), room, f.Username)
		switch {
		case err != nil && !wantsHTML(c):
			return err
		case errors.Is(err, chat.ErrNameTaken), errors.Is(err, chat.ErrTooManyNames):
			f.UsernameError = userMessage(err, http.StatusConflict)
		case errors.Is(err, chat.ErrRoomFull), errors.Is(err, chat.ErrTooManyRooms):
			f.RoomError = userMessage(err, statusOf(err))
		case err != nil:
			return err
		default:
			return c.Redirect(http.StatusSeeOther, roomURL(room, m.ID))
		}
		return render(c, statusOf(err), views.JoinPage(f))
	}
}
