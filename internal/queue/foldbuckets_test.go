package queue

import (
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// foldCoverage says, for every bucket of the schema (schema.go), how a
// server name it keeps is folded: the functions that must name the
// bucket (the folds at Open: foldHolderNames and foldPrimaryNames with
// the functions they call; pointNotesAt and foldAliasOfOwned for an
// alias spelling of another server's database), or, with none, why
// none is needed. A bucket added to the schema fails
// TestSR7EveryServerNamedBucketFolded until it is given a line here.
var foldCoverage = map[string]struct {
	folds []string
	why   string
}{
	"bucketMeta":             {why: "no server name"},
	"bucketHeldSince":        {why: "no server name"},
	"bucketReceived":         {why: "no server name"},
	"bucketKeptMissing":      {why: "written by shadow verbs 23 onward only, the holder as serverKey gives it (keptMissingKey); an entry whose copy no record names on that holder (a name spelt anew) is deleted by the next answer about any holder, and costs at most one answer's delay of a mark"},
	"bucketTakenBusy":        {why: "written by shadow verbs 21 onward only, the holder as serverKey gives it; an alias is matched on reading (ShadowCopiesBusy: holderAliasesTx)"},
	"bucketMessages":         {why: "records: primaries folded by Tx.Put (foldRecordPrimaries, foldPrimaryNames reads and writes back), holders by pointRecordsAt; compared by sameServer"},
	"bucketDamaged":          {folds: []string{"pointNotesAt"}},
	"bucketBodies":           {why: "no server name"},
	"bucketSchedule":         {why: "no server name"},
	"bucketActive":           {why: "no server name"},
	"bucketQueues":           {why: "shadow:NAME written by Tx.Put from the folded record (foldPrimaryNames)"},
	"bucketSuspended":        {folds: []string{"foldPrimaryNames"}},
	"bucketDiscards":         {folds: []string{"foldHolderNames", "foldAliasOfOwned"}},
	"bucketEarly":            {folds: []string{"foldHolderNames"}},
	"bucketDelivered":        {why: "mailbox databases, not servers"},
	"bucketDelivAt":          {why: "mailbox databases, not servers"},
	"bucketDumpster":         {why: "mailbox databases; delivered copies name no holder they need"},
	"bucketDumpBody":         {why: "mailbox databases, not servers"},
	"bucketDumpStats":        {why: "mailbox databases, not servers"},
	"bucketRequests":         {why: "mailbox databases, not servers"},
	"bucketRequestExt":       {why: "mailbox databases, not servers"},
	"bucketOrgIDs":           {why: "no server name"},
	"bucketSubmitKey":        {why: "no server name"},
	"bucketRcptCache":        {why: "addresses, not servers"},
	"bucketRcptAge":          {why: "addresses, not servers"},
	"bucketPeers":            {folds: []string{"foldPeers"}},
	"bucketTaken":            {folds: []string{"foldPrimaryNames"}},
	"bucketTakenBy":          {folds: []string{"foldPrimaryNames"}},
	"bucketTLSPolicy":        {why: "mail domains, not servers"},
	"bucketTLSRPT":           {why: "policy domains, not servers"},
	"bucketRedeliver":        {why: "no server name"},
	"bucketHolders":          {folds: []string{"foldHolderNames"}},
	"bucketSingle":           {folds: []string{"pointNotesAt"}, why: "values compared by sameServer"},
	"bucketHolderMarks":      {folds: []string{"foldHolderMarks"}},
	"bucketPrimaryMarks":     {why: "every spelling read with the key's own, removed by the next write (marks.go foldMarks)"},
	"bucketPartial":          {folds: []string{"foldHolderNames", "foldAliasOfOwned"}},
	"bucketHandBack":         {folds: []string{"foldHolderNames", "foldAliasOfOwned"}},
	"bucketDropped":          {folds: []string{"foldHolderNames"}},
	"bucketFolded":           {folds: []string{"foldPrimaryNames"}},
	"bucketPushing":          {folds: []string{"pointNotesAt"}, why: "values compared by sameServer"},
	"bucketPushAsked":        {folds: []string{"pointNotesAt"}, why: "values compared by sameServer"},
	"bucketTakeoverFailures": {folds: []string{"foldPrimaryNames"}},
	"bucketDisowned":         {folds: []string{"foldPrimaryNames"}},
	"bucketFinished":         {folds: []string{"pointNotesAt"}, why: "values written by serverKey, compared by sameServer"},
	"bucketFinishedAt":       {why: "no server name"},
	"bucketCarried":          {folds: []string{"foldCarried"}, why: "foldCarried is called by foldHolderNames and pointNotesAt"},
	"bucketPeerDBs":          {folds: []string{"foldPrimaryNames"}},
	"bucketPeerDBOrder":      {folds: []string{"foldPrimaryNames"}},
	"bucketTakenDone":        {why: "keyed by database id, not by name"},
	"bucketShadowIDs":        {why: "no server name"},
	"bucketTakenDoneWait":    {folds: []string{"foldHolderNames"}},
	"bucketTakenHanded":      {folds: []string{"foldPrimaryNames"}},
	"bucketHolderStated":     {folds: []string{"foldHolderNames"}},
	"bucketRefusedHere":      {why: "keyed by mailaddr.NameKey since its first release"},
	"bucketDigestless":       {folds: []string{"foldPrimaryNames"}},
	"bucketPickupEnds":       {why: "no server name"},
	"bucketHolderAddrs":      {why: "keyed by mailaddr.NameKey since its first release"},
	"bucketSubmitNames":      {why: "no server name"},
	"bucketSpooled":          {why: "no server name"},
	"bucketSpoolFiles":       {why: "no server name"},
	"bucketBodySums":         {why: "no server name"},
	"bucketBackupSums":       {why: "only in a backup, deleted by the Open of a restored file"},
	"bucketBackupSpool":      {why: "only in a backup, deleted by the restore"},
	"bucketBulkTally":        {why: "no server name"},
	"bucketDSNReported":      {folds: []string{"pointNotesAt"}, why: "values compared by sameServer"},
	"bucketDSNReportedBy":    {why: "no server name"},
}

// SR-7, SR-13: every bucket of the schema that keeps a server name is
// folded, at Open and for an alias spelling of another server's
// database, by functions that name it (foldCoverage); a bucket added
// without a line there fails here, as does a fold that no longer names
// the bucket it is said to fold.
func TestSR7EveryServerNamedBucketFolded(t *testing.T) {
	fset := token.NewFileSet()
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	named := map[string]map[string]bool{} // function → bucket identifiers it names
	var buckets []string
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		src, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		af, err := parser.ParseFile(fset, f, src, 0)
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range af.Decls {
			switch d := d.(type) {
			case *ast.FuncDecl:
				if d.Body == nil {
					continue
				}
				ids := map[string]bool{}
				ast.Inspect(d.Body, func(n ast.Node) bool {
					if id, ok := n.(*ast.Ident); ok && strings.HasPrefix(id.Name, "bucket") {
						ids[id.Name] = true
					}
					return true
				})
				if named[d.Name.Name] == nil {
					named[d.Name.Name] = ids
				} else {
					for k := range ids {
						named[d.Name.Name][k] = true
					}
				}
			case *ast.GenDecl:
				if f != "schema.go" || d.Tok != token.VAR {
					continue
				}
				for _, sp := range d.Specs {
					for _, n := range sp.(*ast.ValueSpec).Names {
						if strings.HasPrefix(n.Name, "bucket") {
							buckets = append(buckets, n.Name)
						}
					}
				}
			}
		}
	}
	if len(buckets) < 50 {
		t.Fatalf("read %d buckets from schema.go; the schema's form changed", len(buckets))
	}
	seen := map[string]bool{}
	for _, b := range buckets {
		seen[b] = true
		c, ok := foldCoverage[b]
		if !ok {
			t.Errorf("%s: not in foldCoverage — say which fold covers the server names it keeps, or why it keeps none", b)
			continue
		}
		if len(c.folds) == 0 && c.why == "" {
			t.Errorf("%s: neither a fold nor a reason", b)
		}
		for _, fn := range c.folds {
			if named[fn] == nil {
				t.Errorf("%s: fold %s not found", b, fn)
			} else if !named[fn][b] {
				t.Errorf("%s: %s does not name it", b, fn)
			}
		}
	}
	for b := range foldCoverage {
		if !seen[b] {
			t.Errorf("foldCoverage names %s, not a bucket of schema.go", b)
		}
	}
}
