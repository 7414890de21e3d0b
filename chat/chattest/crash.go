package chattest

import (
	"context"
	"errors"
	"time"

	"github.com/cloakroom/cloakroom/chat"
)

// errCrashed is what a crashed node's log and state answer.
var errCrashed = errors.New("chattest: the node crashed")

// crashable wraps one node's log and state store so that a test can crash
// the node: after crash, every call fails and every Watch ends, as if the
// node's process had died (kill -9), without Hub.Close and so without
// ForgetNode or any other last word. The hub's follower goroutines then
// only retry, failing, until the test's cleanup closes the hub. A state
// that is a chat.NodeRegistry or a chat.OwnerIndex stays one.
func crashable(l chat.Log, s chat.StateStore) (chat.Log, chat.StateStore, func()) {
	ctx, crash := context.WithCancel(context.Background())
	cl := &crashLog{log: l, dead: ctx}
	cs := &crashState{state: s, dead: ctx}
	reg, isReg := s.(chat.NodeRegistry)
	ix, isIndex := s.(chat.OwnerIndex)
	r, o := crashRegistry{reg: reg, dead: ctx}, crashOwners{ix: ix, dead: ctx}
	switch {
	case isReg && isIndex:
		return cl, struct {
			*crashState
			crashRegistry
			crashOwners
		}{cs, r, o}, crash
	case isReg:
		return cl, struct {
			*crashState
			crashRegistry
		}{cs, r}, crash
	case isIndex:
		return cl, struct {
			*crashState
			crashOwners
		}{cs, o}, crash
	}
	return cl, cs, crash
}

// alive returns errCrashed once dead has ended.
func alive(dead context.Context) error {
	if dead.Err() != nil {
		return errCrashed
	}
	return nil
}

// within returns a context that ends with ctx or when the node crashes.
func within(ctx, dead context.Context) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancel(ctx)
	stop := context.AfterFunc(dead, cancel)
	return ctx, func() { stop(); cancel() }
}

type crashLog struct {
	log  chat.Log
	dead context.Context
	// beforeDrop, if set, is called as Drop begins: a test holds a drop
	// there to let another node act between the room's end in the state
	// and its log's purge.
	beforeDrop func(room string)
}

func (c *crashLog) Append(room string, expect uint64, rec chat.Record) (chat.Record, bool, error) {
	if err := alive(c.dead); err != nil {
		return chat.Record{}, false, err
	}
	return c.log.Append(room, expect, rec)
}

func (c *crashLog) Read(room string, after uint64, limit int) ([]chat.Record, error) {
	if err := alive(c.dead); err != nil {
		return nil, err
	}
	return c.log.Read(room, after, limit)
}

func (c *crashLog) Bounds(room string) (uint64, uint64, bool, error) {
	if err := alive(c.dead); err != nil {
		return 0, 0, false, err
	}
	return c.log.Bounds(room)
}

func (c *crashLog) Drop(room string, through uint64) error {
	if err := alive(c.dead); err != nil {
		return err
	}
	if c.beforeDrop != nil {
		c.beforeDrop(room)
	}
	return c.log.Drop(room, through)
}

func (c *crashLog) Watch(ctx context.Context, room string, after uint64, fn func(chat.Record) error) error {
	ctx, cancel := within(ctx, c.dead)
	defer cancel()
	err := c.log.Watch(ctx, room, after, func(rec chat.Record) error {
		if err := alive(c.dead); err != nil {
			return err
		}
		return fn(rec)
	})
	if dead := alive(c.dead); dead != nil {
		return dead
	}
	return err
}

type crashState struct {
	state chat.StateStore
	dead  context.Context
}

func (c *crashState) Load(room string) (chat.RoomState, chat.Revision, error) {
	if err := alive(c.dead); err != nil {
		return chat.RoomState{}, 0, err
	}
	return c.state.Load(room)
}

func (c *crashState) Update(room string, expect chat.Revision, s chat.RoomState) (chat.Revision, error) {
	if err := alive(c.dead); err != nil {
		return 0, err
	}
	return c.state.Update(room, expect, s)
}

func (c *crashState) Delete(room string, expect chat.Revision) (chat.Revision, error) {
	if err := alive(c.dead); err != nil {
		return 0, err
	}
	return c.state.Delete(room, expect)
}

func (c *crashState) Watch(ctx context.Context, room string, fn func(chat.RoomState, chat.Revision) error) error {
	ctx, cancel := within(ctx, c.dead)
	defer cancel()
	err := c.state.Watch(ctx, room, func(s chat.RoomState, rev chat.Revision) error {
		if err := alive(c.dead); err != nil {
			return err
		}
		return fn(s, rev)
	})
	if dead := alive(c.dead); dead != nil {
		return dead
	}
	return err
}

type crashRegistry struct {
	reg  chat.NodeRegistry
	dead context.Context
}

func (c crashRegistry) Beat(node string, now time.Time) error {
	if err := alive(c.dead); err != nil {
		return err
	}
	return c.reg.Beat(node, now)
}

func (c crashRegistry) Alive(now time.Time, ttl time.Duration) (map[string]bool, bool, error) {
	if err := alive(c.dead); err != nil {
		return nil, false, err
	}
	return c.reg.Alive(now, ttl)
}

type crashOwners struct {
	ix   chat.OwnerIndex
	dead context.Context
}

func (c crashOwners) AddRoom(owner, room string) error {
	if err := alive(c.dead); err != nil {
		return err
	}
	return c.ix.AddRoom(owner, room)
}

func (c crashOwners) Rooms(owner string) ([]string, chat.Revision, error) {
	if err := alive(c.dead); err != nil {
		return nil, 0, err
	}
	return c.ix.Rooms(owner)
}

func (c crashOwners) Move(old string, expect chat.Revision, new string, rooms []string) error {
	if err := alive(c.dead); err != nil {
		return err
	}
	return c.ix.Move(old, expect, new, rooms)
}
