package console

import (
	"math"
	"sort"
	"strconv"
	"strings"
	"time"

	"umbra/internal/shadow"
)

// Topology is the organisation's topology as the map draws it.
type Topology struct {
	Sites   []TopoSite
	Links   []TopoLink
	Servers []TopoServer
}

// TopoSite is a site; Hub marks a hub site.
type TopoSite struct {
	Name string
	Hub  bool
}

// TopoLink is a site link; UmbraCost (when > 0) is the cost umbra routes by.
type TopoLink struct {
	Name      string
	Sites     []string
	Cost      int
	UmbraCost int
}

// TopoServer is a server and the site it is in ("" when none resolves).
type TopoServer struct {
	Name, Role, Site, Address string
}

// serverHealth is a server's health as this server sees it.
type serverHealth struct {
	Name, Role, Site, Address string
	State                     string // self, ok, failing, refused, down, unknown
	LastContact               time.Time
	Heartbeat                 string // e.g. "ok", "unreachable: 2 failed, takeover at …: …", "one way: …", "refused: 535 5.7.8 …", "taken over", "not watched"
	DatabaseID                string
	Last                      *Result
}

var stateColour = map[string]string{"self": "#1565c0", "ok": "#2e7d32", "failing": "#ef8f00", "refused": "#8e24aa", "down": "#c62828", "unknown": "#8a8a8a"}

// health works out each server's state from the shadow manager's view
// (heartbeats) and the last delivery results.
func (s *Server) health(t *Topology) []serverHealth {
	byPrimary := map[string]int{}
	var shadows []shadow.PrimaryStatus
	if s.cfg.Shadows != nil {
		for _, p := range s.cfg.Shadows() {
			byPrimary[strings.ToLower(p.Name)] = len(shadows)
			shadows = append(shadows, p)
		}
	}
	var out []serverHealth
	for _, sv := range t.Servers {
		h := serverHealth{Name: sv.Name, Role: sv.Role, Site: sv.Site, Address: sv.Address, State: "unknown", Heartbeat: "not watched"}
		if r, ok := s.cfg.Health.Last(sv.Name, sv.Address); ok {
			r := r
			h.Last = &r
			h.LastContact = s.cfg.Health.LastContact(sv.Name, sv.Address) // a refused attempt is no contact
			if r.Event == "defer" {
				h.State = "failing"
			} else {
				h.State = "ok"
			}
		}
		if i, ok := byPrimary[strings.ToLower(sv.Name)]; ok {
			p := shadows[i]
			h.DatabaseID = p.DatabaseID
			if p.LastContact.After(h.LastContact) {
				h.LastContact = p.LastContact
			}
			switch {
			case p.Refused != "":
				// It answers and refuses this server's sessions: alive,
				// never taken over for it (shadow list: refused).
				h.Heartbeat, h.State = "refused: "+p.Refused, "refused"
			case p.TakenOver:
				h.Heartbeat, h.State = "taken over", "down"
			case !p.ReachesHere.IsZero():
				// This server cannot reach it while its own sessions
				// reach this server (shadow list: one-way): each moves
				// the takeover on, whatever the failed heartbeats say
				// between them (0 or 1).
				h.Heartbeat, h.State = "one way: this server cannot reach it ("+p.Unreachable+"); it reaches this server, its last session here at "+when(p.ReachesHere)+": no takeover while it does", "failing"
				if !p.TakeoverAt.IsZero() {
					h.Heartbeat += " (if it stops: takeover at " + when(p.TakeoverAt) + ")"
				}
			case p.Failures > 0 || p.Unreachable != "":
				// Heartbeats fail (shadow list: unreachable), counted
				// towards the takeover; or its watch sessions fail before
				// a heartbeat did (unreachable too, rt27 F8).
				h.Heartbeat, h.State = "unreachable: "+strconv.Itoa(p.Failures)+" failed", "failing"
				if !p.TakeoverAt.IsZero() {
					h.Heartbeat += ", takeover at " + when(p.TakeoverAt)
					if p.TakeoverBy.After(p.TakeoverAt) {
						h.Heartbeat += " (by " + when(p.TakeoverBy) + " if it hangs)"
					}
				}
				if p.Unreachable != "" {
					h.Heartbeat += ": " + p.Unreachable
				}
			default:
				h.Heartbeat = "ok"
				if h.State == "unknown" || !p.LastContact.IsZero() && (h.Last == nil || p.LastContact.After(h.Last.At)) {
					h.State = "ok"
				}
			}
		}
		if strings.EqualFold(sv.Name, s.cfg.Self) {
			h.State, h.Heartbeat = "self", "this server"
		}
		out = append(out, h)
	}
	return out
}

// The map's picture: boxes for sites (hub sites bold) holding their
// servers as coloured dots, lines for links with their costs.
type mapView struct {
	Width, Height int
	Links         []mapLink
	Sites         []mapSite
}

type mapLink struct {
	Name     string
	Cost     string
	Sites    string // space-separated, for the DOM
	Segments []mapSeg
	LabelX   float64
	LabelY   float64
	Junction bool // a link of more than two sites meets at (LabelX, LabelY)
}

type mapSeg struct{ X1, Y1, X2, Y2 float64 }

type mapSite struct {
	Name       string
	Hub        bool
	X, Y, W, H float64
	TitleY     float64
	Servers    []mapServer
}

type mapServer struct {
	Name, State, Colour, Title string
	CX, CY, TX, TY             float64
}

const (
	boxW   = 220.0
	rowH   = 24.0
	headH  = 34.0
	margin = 30.0
)

func layout(t *Topology, hs []serverHealth) mapView {
	sites := append([]TopoSite(nil), t.Sites...)
	inSite := map[string][]serverHealth{}
	known := map[string]bool{}
	for _, st := range sites {
		known[st.Name] = true
	}
	for _, h := range hs {
		site := h.Site
		if !known[site] {
			site = "(no site)"
		}
		inSite[site] = append(inSite[site], h)
	}
	if len(inSite["(no site)"]) > 0 {
		sites = append(sites, TopoSite{Name: "(no site)"})
	}
	n := len(sites)
	maxRows := 1
	for _, st := range sites {
		maxRows = max(maxRows, len(inSite[st.Name]))
	}
	boxH := headH + rowH*float64(maxRows) + 8
	radius := 0.0
	if n > 1 {
		// Neighbouring boxes a link label's width apart at least.
		radius = math.Max(170, (boxW+200)/(2*math.Sin(math.Pi/float64(n))))
	}
	// Place the boxes on a circle, then fit the canvas to them.
	pos := make([][2]float64, n)
	minX, minY, maxX, maxY := math.Inf(1), math.Inf(1), math.Inf(-1), math.Inf(-1)
	for i := range sites {
		a := -math.Pi/2 + 2*math.Pi*float64(i)/float64(n)
		pos[i] = [2]float64{radius * math.Cos(a), radius * math.Sin(a)}
		minX, maxX = math.Min(minX, pos[i][0]), math.Max(maxX, pos[i][0])
		minY, maxY = math.Min(minY, pos[i][1]), math.Max(maxY, pos[i][1])
	}
	offX, offY := margin+boxW/2-minX, margin+boxH/2-minY
	v := mapView{Width: int(maxX - minX + boxW + 2*margin), Height: int(maxY - minY + boxH + 2*margin)}
	centre := map[string][2]float64{}
	for i, st := range sites {
		x, y := pos[i][0]+offX, pos[i][1]+offY
		centre[st.Name] = [2]float64{x, y}
		ms := mapSite{Name: st.Name, Hub: st.Hub, X: x - boxW/2, Y: y - boxH/2, W: boxW, H: boxH, TitleY: y - boxH/2 + 22}
		list := inSite[st.Name]
		sort.Slice(list, func(a, b int) bool { return list[a].Name < list[b].Name })
		for k, h := range list {
			rowY := ms.Y + headH + rowH*float64(k) + rowH/2
			title := h.Name + " (" + h.Role + "): " + h.State + "; heartbeat " + h.Heartbeat
			if h.Last != nil {
				title += "; last delivery " + h.Last.Event + " " + h.Last.Reply
			}
			ms.Servers = append(ms.Servers, mapServer{Name: h.Name, State: h.State, Colour: stateColour[h.State], Title: title,
				CX: ms.X + 16, CY: rowY, TX: ms.X + 30, TY: rowY + 5})
		}
		v.Sites = append(v.Sites, ms)
	}
	for _, l := range t.Links {
		ml := mapLink{Name: l.Name, Cost: strconv.Itoa(l.Cost), Sites: strings.Join(l.Sites, " ")}
		if l.UmbraCost > 0 {
			ml.Cost = strconv.Itoa(l.UmbraCost) + " (Exchange " + strconv.Itoa(l.Cost) + ")"
		}
		var pts [][2]float64
		for _, sn := range l.Sites {
			if p, ok := centre[sn]; ok {
				pts = append(pts, p)
			}
		}
		if len(pts) < 2 {
			continue
		}
		if len(pts) == 2 {
			ml.Segments = []mapSeg{{pts[0][0], pts[0][1], pts[1][0], pts[1][1]}}
			ml.LabelX, ml.LabelY = (pts[0][0]+pts[1][0])/2, (pts[0][1]+pts[1][1])/2
		} else {
			var sx, sy float64
			for _, p := range pts {
				sx, sy = sx+p[0], sy+p[1]
			}
			jx, jy := sx/float64(len(pts)), sy/float64(len(pts))
			for _, p := range pts {
				ml.Segments = append(ml.Segments, mapSeg{jx, jy, p[0], p[1]})
			}
			ml.LabelX, ml.LabelY, ml.Junction = jx, jy, true
		}
		v.Links = append(v.Links, ml)
	}
	return v
}
