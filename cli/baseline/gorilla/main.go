// A plain gorilla/websocket chat hub that speaks just enough of Palaver's
// protocol v1 for `palaver bench compare` (hello -> welcome, join -> joined,
// send -> message to the room then ack). It is the usual gorilla design: a
// read goroutine and a write goroutine per connection, a buffered channel
// of encoded frames between them, a room map under a mutex, slow consumers
// dropped when their channel is full. Built offline from Debian packages:
// see build.sh. Listens on a loopback address only.
package main

import (
	"encoding/json"
	"flag"
	"log"
	"net"
	"net/http"
	"strconv"
	"sync"

	"github.com/gorilla/websocket"
)

const queueLen = 1024

type client struct {
	id     uint64
	send   chan []byte
	closed bool // under hub.mu
}

// close ends the client's writer; call with hub.mu held.
func (c *client) close() {
	if !c.closed {
		c.closed = true
		close(c.send)
	}
}

type room struct {
	seq     uint64
	members map[uint64]*client
}

type hub struct {
	mu     sync.Mutex
	rooms  map[string]*room
	nextID uint64
}

type in struct {
	Type     string  `json:"type"`
	Nick     *string `json:"nick"`
	Room     string  `json:"room"`
	Text     string  `json:"text"`
	ClientID string  `json:"client_id"`
}

type user struct {
	ID   string `json:"id"`
	Nick string `json:"nick"`
}

type welcome struct {
	Type     string `json:"type"`
	Protocol int    `json:"protocol"`
	User     user   `json:"user"`
}

type joinedMsg struct {
	Type    string `json:"type"`
	Room    string `json:"room"`
	Members []user `json:"members"`
	History []int  `json:"history"`
}

type ack struct {
	Type     string `json:"type"`
	Room     string `json:"room"`
	ClientID string `json:"client_id"`
	Seq      uint64 `json:"seq"`
}

// Struct fields marshal in order, so `type` comes first, as the bench
// expects (a map would sort the keys).
type message struct {
	Type     string `json:"type"`
	Room     string `json:"room"`
	Seq      uint64 `json:"seq"`
	From     user   `json:"from"`
	Text     string `json:"text"`
	ClientID string `json:"client_id"`
}

var upgrader = websocket.Upgrader{ReadBufferSize: 1024, WriteBufferSize: 16384}

func (h *hub) serve(w http.ResponseWriter, r *http.Request) {
	conn, err := upgrader.Upgrade(w, r, nil)
	if err != nil {
		return
	}
	h.mu.Lock()
	h.nextID++
	c := &client{id: h.nextID, send: make(chan []byte, queueLen)}
	h.mu.Unlock()
	go writer(conn, c)
	reader(h, conn, c)
}

func writer(conn *websocket.Conn, c *client) {
	defer conn.Close()
	for frame := range c.send {
		if err := conn.WriteMessage(websocket.TextMessage, frame); err != nil {
			return
		}
	}
	conn.WriteMessage(websocket.CloseMessage, websocket.FormatCloseMessage(4001, "slow"))
}

// queue hands a frame to c's writer without waiting; call with hub.mu held.
func (h *hub) queue(c *client, frame []byte) bool {
	if c.closed {
		return false
	}
	select {
	case c.send <- frame:
		return true
	default:
		return false
	}
}

func reader(h *hub, conn *websocket.Conn, c *client) {
	me := user{ID: "u-" + strconv.FormatUint(c.id, 10), Nick: "anon"}
	var joined []string
	defer func() {
		h.mu.Lock()
		for _, name := range joined {
			if r := h.rooms[name]; r != nil {
				delete(r.members, c.id)
				if len(r.members) == 0 {
					delete(h.rooms, name)
				}
			}
		}
		c.close()
		h.mu.Unlock()
	}()
	for {
		_, data, err := conn.ReadMessage()
		if err != nil {
			return
		}
		var msg in
		if json.Unmarshal(data, &msg) != nil {
			continue
		}
		var reply []byte
		switch msg.Type {
		case "hello":
			if msg.Nick != nil {
				me.Nick = *msg.Nick
			}
			reply, _ = json.Marshal(welcome{"welcome", 1, me})
		case "join":
			h.mu.Lock()
			r := h.rooms[msg.Room]
			if r == nil {
				r = &room{members: map[uint64]*client{}}
				h.rooms[msg.Room] = r
			}
			r.members[c.id] = c
			h.mu.Unlock()
			joined = append(joined, msg.Room)
			reply, _ = json.Marshal(joinedMsg{"joined", msg.Room, []user{}, []int{}})
		case "send":
			h.mu.Lock()
			r := h.rooms[msg.Room]
			if r == nil {
				h.mu.Unlock()
				continue
			}
			r.seq++
			seq := r.seq
			frame, _ := json.Marshal(message{"message", msg.Room, seq, me, msg.Text, msg.ClientID})
			for id, m := range r.members {
				if !h.queue(m, frame) {
					delete(r.members, id)
					m.close()
				}
			}
			h.mu.Unlock()
			reply, _ = json.Marshal(ack{"ack", msg.Room, msg.ClientID, seq})
		default:
			continue
		}
		h.mu.Lock()
		ok := h.queue(c, reply)
		h.mu.Unlock()
		if !ok {
			return
		}
	}
}

func main() {
	bind := flag.String("bind", "127.0.0.1:18098", "loopback address to listen on")
	flag.Parse()
	host, _, err := net.SplitHostPort(*bind)
	if err != nil || !net.ParseIP(host).IsLoopback() {
		log.Fatalf("--bind must be a loopback address, got %q", *bind)
	}
	h := &hub{rooms: map[string]*room{}}
	mux := http.NewServeMux()
	mux.HandleFunc("/ws", h.serve)
	log.Fatal(http.ListenAndServe(*bind, mux))
}
