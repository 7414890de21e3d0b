package client

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"
)

// DefaultServer is where the commands look for Cloakroom without --server.
const DefaultServer = "http://localhost:5000"

// requestTimeout bounds each of say's requests.
const requestTimeout = 30 * time.Second

// Bot is a bot member as say keeps it between runs: what the server answered
// to its join, and the server it joined. Token is a secret.
type Bot struct {
	Server string `json:"server"`
	Room   string `json:"room"`
	Member uint64 `json:"member"`
	Name   string `json:"name"`
	Token  string `json:"token"`
}

// SayConfig says who posts what where.
type SayConfig struct {
	Server    string
	Room      string // as the server shows it: lower case
	Name      string // the bot's name, used when it has to join
	TokenFile string // where the bot is kept, mode 0600
	Text      string
}

// ServerError is a request the server refused: its HTTP status and the
// sentence it gave as the reason.
type ServerError struct {
	Status int
	Reason string
}

func (e *ServerError) Error() string { return e.Reason }

// Say posts cfg.Text to cfg.Room as the bot kept in cfg.TokenFile, first
// joining as cfg.Name when the file holds no bot for this server, room and
// name. When the server refuses the kept token (401: the member has left, or
// the server restarted), it joins again once and posts with the new token.
// It returns the new message's id; a refusal is a *ServerError.
func Say(ctx context.Context, cfg SayConfig) (uint64, error) {
	hc := &http.Client{Timeout: requestTimeout}
	bot, err := loadBot(cfg.TokenFile)
	if err != nil || bot.Server != cfg.Server || bot.Room != cfg.Room || bot.Name != cfg.Name {
		// No usable bot (no file yet, another room or name, a damaged
		// file): a new join replaces it. A bot of this room under another
		// name leaves first, or it would hold its name (and the token
		// to free it would be lost) until it is removed for being away.
		if err == nil && bot.Server == cfg.Server && bot.Room == cfg.Room {
			leave(ctx, hc, cfg, bot)
		}
		if bot, err = joinAndKeep(ctx, hc, cfg); err != nil {
			return 0, err
		}
	}
	id, err := post(ctx, hc, cfg, bot)
	var se *ServerError
	if errors.As(err, &se) && se.Status == http.StatusUnauthorized {
		if bot, err = joinAndKeep(ctx, hc, cfg); err != nil {
			return 0, err
		}
		id, err = post(ctx, hc, cfg, bot)
	}
	return id, err
}

// joinAndKeep joins as a bot and keeps the answer in the token file.
func joinAndKeep(ctx context.Context, hc *http.Client, cfg SayConfig) (Bot, error) {
	form := url.Values{"username": {cfg.Name}, "room": {cfg.Room}}
	var bot Bot
	if err := call(ctx, hc, cfg.Server+"/join", "", form, http.StatusCreated, &bot); err != nil {
		return Bot{}, fmt.Errorf("join %s as %s: %w", cfg.Room, cfg.Name, err)
	}
	bot.Server = cfg.Server
	if err := keepBot(cfg.TokenFile, bot); err != nil {
		return Bot{}, err
	}
	return bot, nil
}

// leave takes a kept bot out of its room. It is best effort: a token the
// server refuses belongs to a member that has gone already.
func leave(ctx context.Context, hc *http.Client, cfg SayConfig, bot Bot) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, cfg.Server+"/rooms/"+url.PathEscape(bot.Room)+"/leave", nil)
	if err != nil {
		return
	}
	req.Header.Set("Accept", "application/json")
	req.Header.Set("Authorization", "Bearer "+bot.Token)
	if resp, err := hc.Do(req); err == nil {
		resp.Body.Close()
	}
}

// post sends the text as the bot and returns the new message's id.
func post(ctx context.Context, hc *http.Client, cfg SayConfig, bot Bot) (uint64, error) {
	var answer struct {
		ID uint64 `json:"id"`
	}
	err := call(ctx, hc, cfg.Server+"/rooms/"+url.PathEscape(cfg.Room)+"/messages", bot.Token, url.Values{"text": {cfg.Text}}, http.StatusCreated, &answer)
	return answer.ID, err
}

// call POSTs a form as a JSON client and decodes a want-status answer into
// v; any other status is a *ServerError.
func call(ctx context.Context, hc *http.Client, u, token string, form url.Values, want int, v any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u, strings.NewReader(form.Encode()))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != want {
		return &ServerError{Status: resp.StatusCode, Reason: serverSentence(resp.Body)}
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(v); err != nil {
		return fmt.Errorf("the server's answer: %w", err)
	}
	return nil
}

// serverSentence is the reason in an error answer: the "error" of a JSON
// body, else the body's first line (plain-text errors), else a placeholder.
func serverSentence(body io.Reader) string {
	b, _ := io.ReadAll(io.LimitReader(body, 4<<10))
	var e struct {
		Error string `json:"error"`
	}
	if json.Unmarshal(b, &e) == nil && e.Error != "" {
		return e.Error
	}
	line, _, _ := strings.Cut(strings.TrimSpace(string(b)), "\n")
	if line == "" {
		return "the server gave no reason"
	}
	return line
}

// loadBot reads a kept bot.
func loadBot(path string) (Bot, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return Bot{}, err
	}
	var bot Bot
	if err := json.Unmarshal(b, &bot); err != nil {
		return Bot{}, err
	}
	if bot.Token == "" {
		return Bot{}, errors.New("no token")
	}
	return bot, nil
}

// keepBot writes the bot to path, readable only by its owner, in a directory
// only its owner may enter. The file is replaced whole (written aside, then
// renamed), so a crash never leaves half a token.
func keepBot(path string, bot Bot) error {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("keep the token: %w", err)
	}
	b, err := json.Marshal(bot)
	if err != nil {
		return err
	}
	f, err := os.CreateTemp(dir, ".token-*") // mode 0600
	if err != nil {
		return fmt.Errorf("keep the token: %w", err)
	}
	defer os.Remove(f.Name()) // a no-op once renamed
	if _, err := f.Write(append(b, '\n')); err != nil {
		f.Close()
		return fmt.Errorf("keep the token: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("keep the token: %w", err)
	}
	if err := os.Rename(f.Name(), path); err != nil {
		return fmt.Errorf("keep the token: %w", err)
	}
	return nil
}

// roomPattern is the server's room name rule, checked here too because the
// default token file is named after the room.
var roomPattern = regexp.MustCompile(`^[a-z0-9._-]{1,64}$`)

// DefaultTokenFile is where say keeps a room's bot without --token-file:
// one file per room under the user's configuration directory
// (~/.config/cloakroom/token-ROOM.json on Linux).
func DefaultTokenFile(room string) (string, error) {
	dir, err := os.UserConfigDir()
	if err != nil {
		return "", fmt.Errorf("no place for the token (give --token-file): %w", err)
	}
	return filepath.Join(dir, "cloakroom", "token-"+room+".json"), nil
}

// SayCommand is `cloakroom say [flags] ROOM TEXT`.
func SayCommand(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("cloakroom say", flag.ContinueOnError)
	fs.SetOutput(stderr)
	server := fs.String("server", DefaultServer, "the Cloakroom server's URL")
	name := fs.String("name", "bot", "the bot's name in the room, when it has to join")
	tokenFile := fs.String("token-file", "", "where to keep the bot's token (default: token-ROOM.json under the user's config directory, in cloakroom/)")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: cloakroom say [flags] ROOM TEXT\nPosts TEXT to ROOM as a bot member, joining once and reusing its token.")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); errors.Is(err, flag.ErrHelp) {
		return nil // the usage is printed; asking for it is no failure
	} else if err != nil {
		return err
	}
	if fs.NArg() != 2 {
		fs.Usage()
		return fmt.Errorf("say needs ROOM and TEXT (got %d arguments; flags go before ROOM)", fs.NArg())
	}
	room := strings.ToLower(fs.Arg(0))
	if !roomPattern.MatchString(room) {
		return fmt.Errorf("room %q: a room name is 1-64 of a-z 0-9 - _ .", fs.Arg(0))
	}
	if *tokenFile == "" {
		var err error
		if *tokenFile, err = DefaultTokenFile(room); err != nil {
			return err
		}
	}
	_, err := Say(ctx, SayConfig{Server: strings.TrimSuffix(*server, "/"), Room: room, Name: *name, TokenFile: *tokenFile, Text: fs.Arg(1)})
	return err
}

// oneArg parses flags followed by exactly one argument, named what.
func oneArg(fs *flag.FlagSet, args []string, what string) (string, error) {
	if err := fs.Parse(args); err != nil {
		return "", err
	}
	if fs.NArg() != 1 {
		fs.Usage()
		return "", fmt.Errorf("%s needs %s (got %d arguments; flags go before ROOM)", strings.TrimPrefix(fs.Name(), "cloakroom "), what, fs.NArg())
	}
	return fs.Arg(0), nil
}
