package smtp

import (
	"os"
	"regexp"
	"strconv"
	"testing"
)

// The README states the shadow verbs' version this release advertises
// (SR-1, W-1: "advertises `XSHADOW N`") and describes each version in
// its *Versions* list (`XSHADOW N` adds …). Both follow ShadowVersion,
// the one source of it: every "advertises `XSHADOW N`" names it, and the
// list describes it and no later one — a new version that left the
// README on the old one (it said 20 while the server advertised 21)
// fails here.
func TestSR1ReadmeStatesAdvertisedShadowVersion(t *testing.T) {
	b, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	readme := string(b)
	advertised := regexp.MustCompile("advertises\\s+`XSHADOW\\s+(\\d+)`").FindAllStringSubmatch(readme, -1)
	if len(advertised) == 0 {
		t.Fatal("the README states no advertised version (\"advertises `XSHADOW N`\")")
	}
	for _, m := range advertised {
		if n, _ := strconv.Atoi(m[1]); n != ShadowVersion {
			t.Errorf("README: %q, but the server advertises XSHADOW %d (ShadowVersion)", m[0], ShadowVersion)
		}
	}
	highest := 0
	for _, m := range regexp.MustCompile("`XSHADOW\\s+(\\d+)`").FindAllStringSubmatch(readme, -1) {
		if n, _ := strconv.Atoi(m[1]); n > highest {
			highest = n
		}
	}
	if highest != ShadowVersion {
		t.Errorf("the README's highest shadow verbs version is %d, the server's %d (ShadowVersion): its *Versions* list must describe the version advertised, and none beyond it", highest, ShadowVersion)
	}
	described := regexp.MustCompile("`XSHADOW " + strconv.Itoa(ShadowVersion) + "` (adds|lets|makes)").FindString(readme)
	if described == "" {
		t.Errorf("the README's *Versions* list does not describe version %d", ShadowVersion)
	}
}
