package syncscope

import (
	"strings"
	"testing"
)

// docCase models one construct a PowerSync docs page shows (named in the
// case), written for this test. Inside the subset it must parse and decide as
// the page says; outside, Parse must fail naming the construct and its line.
type docCase struct {
	name    string // "<doc page>: <construct>"
	yaml    string
	loadErr string // substring of the load error ("" = must parse)
	open    int    // how many queries Open() must report
	openWhy string // a substring of the first one's reason
	checks  []docCheck
}

type docCheck struct {
	user  User
	table string
	doc   map[string]any
	allow bool
}

var (
	alice = User{ID: "alice", Claims: map[string]any{"sub": "alice", "org_id": "o1", "role": "member",
		"project_ids": []any{"p1", "p2"}, "parameters": map[string]any{"team": "red"}}}
	admin = User{ID: "root", Claims: map[string]any{"org_id": "o1", "role": "admin"}}
)

func stream(q string) string {
	return "streams:\n  s:\n    query: |\n" + indent(q, "      ")
}

func indent(s, pre string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	for i, l := range lines {
		lines[i] = pre + l
	}
	return strings.Join(lines, "\n") + "\n"
}

var docCases = []docCase{
	{name: "streams/overview.mdx: owner filter", yaml: stream("SELECT * FROM todos WHERE owner_id = auth.user_id()"),
		checks: []docCheck{{alice, "todos", map[string]any{"id": "1", "owner_id": "alice"}, true}, {alice, "todos", map[string]any{"id": "1", "owner_id": "bob"}, false}}},
	{name: "streams/overview.mdx: global data is open", yaml: stream("SELECT * FROM categories"), open: 1, openWhy: "no condition on the token",
		checks: []docCheck{{alice, "categories", map[string]any{"id": "c"}, false}}},
	{name: "streams/overview.mdx: row-value filter only is open", yaml: stream("SELECT * FROM products WHERE active = true"), open: 1,
		checks: []docCheck{{alice, "products", map[string]any{"id": "p", "active": true}, false}}},
	{name: "streams/parameters.mdx: subscription parameter alone is open", yaml: stream("SELECT * FROM todos WHERE list_id = subscription.parameter('list_id')"), open: 1, openWhy: "depends only on client-chosen parameters",
		checks: []docCheck{{alice, "todos", map[string]any{"id": "t", "list_id": "la"}, false}}},
	{name: "streams/parameters.mdx: connection parameter alone is open", yaml: stream("SELECT * FROM config WHERE environment = connection.parameter('environment')"), open: 1},
	{name: "streams/parameters.mdx: auth.parameter claim", yaml: stream("SELECT * FROM projects WHERE org_id = auth.parameter('org_id')"),
		checks: []docCheck{{alice, "projects", map[string]any{"id": "p", "org_id": "o1"}, true}, {alice, "projects", map[string]any{"id": "p", "org_id": "o2"}, false}}},
	{name: "streams/parameters.mdx: IN over a claim array (shorthand)", yaml: stream("SELECT * FROM projects WHERE id IN auth.parameter('project_ids')"),
		checks: []docCheck{{alice, "projects", map[string]any{"_id": "p2"}, true}, {alice, "projects", map[string]any{"_id": "p3"}, false}, {admin, "projects", map[string]any{"_id": "p1"}, false}}},
	{name: "streams/parameters.mdx: JOIN json_each", yaml: stream("SELECT * FROM projects\nJOIN json_each(auth.parameter('project_ids')) AS allowed ON projects.id = allowed.value"), loadErr: ":5: stream \"s\": JOIN is not supported"},
	{name: "streams/parameters.mdx: subquery over json_each", yaml: stream("SELECT * FROM projects WHERE id IN (SELECT value FROM json_each(auth.parameter('project_ids')))"), loadErr: "table-valued function json_each() is not supported"},
	{name: "streams/queries.mdx: IN (SELECT …) subquery", yaml: stream("SELECT * FROM comments\nWHERE issue_id IN (SELECT id FROM issues WHERE owner_id = auth.user_id())"),
		checks: []docCheck{{alice, "comments", map[string]any{"id": "c", "issue_id": "i1"}, true}, {alice, "comments", map[string]any{"id": "c", "issue_id": "i2"}, false}}},
	{name: "streams/queries.mdx: nested subqueries", yaml: stream("SELECT * FROM tasks WHERE project_id IN (\n  SELECT id FROM projects WHERE org_id IN (\n    SELECT org_id FROM org_members WHERE user_id = auth.user_id()))"), loadErr: ":5: stream \"s\": a nested subquery is not supported"},
	{name: "streams/queries.mdx: INNER JOIN", yaml: stream("SELECT comments.* FROM comments\n  INNER JOIN issues ON comments.issue_id = issues.id\nWHERE issues.owner_id = auth.user_id()"), loadErr: ":5: stream \"s\": JOIN is not supported"},
	{name: "streams/queries.mdx: multiple queries per stream", yaml: "streams:\n  user_data:\n    auto_subscribe: true\n    queries:\n      - SELECT * FROM notes WHERE owner_id = auth.user_id()\n      - SELECT * FROM settings WHERE user_id = auth.user_id()\n",
		checks: []docCheck{{alice, "settings", map[string]any{"id": "s", "user_id": "alice"}, true}, {alice, "notes", map[string]any{"id": "n", "owner_id": "bob"}, false}}},
	{name: "streams/queries.mdx: CTE in with", yaml: "streams:\n  org_data:\n    with:\n      user_orgs: SELECT org_id FROM org_members WHERE user_id = auth.user_id()\n    queries:\n      - SELECT * FROM projects WHERE org_id IN user_orgs\n", loadErr: ":3: stream \"org_data\": with (CTE) is not supported"},
	{name: "streams/queries.mdx: type transformations in columns", yaml: stream("SELECT id, CAST(item_number AS TEXT) AS item_number, base64(thumbnail) AS t FROM items WHERE owner_id = auth.user_id()"),
		checks: []docCheck{{alice, "items", map[string]any{"id": "i", "owner_id": "alice"}, true}}},
	{name: "streams/examples.mdx: role claim OR author", yaml: stream("SELECT * FROM articles\nWHERE org_id = auth.parameter('org_id')\n  AND (status = 'published' OR author_id = auth.user_id() OR auth.parameter('role') = 'admin')"), open: 0,
		checks: []docCheck{{alice, "articles", map[string]any{"id": "a", "org_id": "o1", "author_id": "alice"}, true},
			{alice, "articles", map[string]any{"id": "a", "org_id": "o1", "author_id": "bob", "status": "published"}, true},
			{alice, "articles", map[string]any{"id": "a", "org_id": "o1", "author_id": "bob", "status": "draft"}, false},
			{admin, "articles", map[string]any{"id": "a", "org_id": "o1", "author_id": "bob"}, true},
			{admin, "articles", map[string]any{"id": "a", "org_id": "o2", "author_id": "bob"}, false}}},
	{name: "streams/examples.mdx: owner OR shared via subquery", yaml: stream("SELECT * FROM documents\nWHERE owner_id = auth.user_id()\n   OR id IN (SELECT document_id FROM document_shares WHERE shared_with = auth.user_id())"),
		checks: []docCheck{{alice, "documents", map[string]any{"id": "d1", "owner_id": "bob"}, true}, {alice, "documents", map[string]any{"id": "d2", "owner_id": "bob"}, false}}},
	{name: "streams/examples.mdx: primary list from users", yaml: stream("SELECT * FROM todos WHERE list_id IN (SELECT primary_list_id FROM users WHERE id = auth.user_id())"),
		checks: []docCheck{{alice, "todos", map[string]any{"id": "t", "list_id": "la"}, true}, {alice, "todos", map[string]any{"id": "t", "list_id": "lb"}, false}}},
	{name: "streams/examples.mdx: wildcard schema function", yaml: stream("SELECT * FROM \"%\".work_orders WHERE work_orders.schema() = auth.parameter('tenant_schema')"), loadErr: "schema-qualified table"},
	{name: "supported-sql.mdx: IS NULL and !=", yaml: stream("SELECT * FROM notes WHERE owner_id = auth.user_id() AND deleted_at IS NULL AND status != 'archived'"),
		checks: []docCheck{{alice, "notes", map[string]any{"id": "n", "owner_id": "alice", "status": "x"}, true}, {alice, "notes", map[string]any{"id": "n", "owner_id": "alice", "deleted_at": "2024", "status": "x"}, false}, {alice, "notes", map[string]any{"id": "n", "owner_id": "alice"}, false}}},
	{name: "supported-sql.mdx: NOT on a row value", yaml: stream("SELECT * FROM users WHERE id = auth.user_id() AND NOT is_admin = true"),
		checks: []docCheck{{alice, "users", map[string]any{"id": "alice", "is_admin": false}, true}, {alice, "users", map[string]any{"id": "alice", "is_admin": true}, false}}},
	{name: "supported-sql.mdx: NOT IN a JSON array string", yaml: stream("SELECT * FROM posts WHERE owner_id = auth.user_id() AND category NOT IN '[\"draft\", \"hidden\"]'"),
		checks: []docCheck{{alice, "posts", map[string]any{"id": "p", "owner_id": "alice", "category": "news"}, true}, {alice, "posts", map[string]any{"id": "p", "owner_id": "alice", "category": "draft"}, false}}},
	{name: "supported-sql.mdx: NOT IN ARRAY[…]", yaml: stream("SELECT * FROM posts WHERE category NOT IN ARRAY['draft', 'hidden']"), loadErr: "ARRAY literals are not supported"},
	{name: "supported-sql.mdx: negated subquery", yaml: stream("SELECT * FROM c WHERE issue_id NOT IN (SELECT id FROM issues WHERE owner_id = auth.user_id())"), loadErr: "NOT IN (SELECT …) is not supported"},
	{name: "supported-sql.mdx: BETWEEN", yaml: stream("SELECT * FROM p WHERE owner_id = auth.user_id() AND price BETWEEN 10 AND 100"), loadErr: "BETWEEN is not supported"},
	{name: "supported-sql.mdx: && array overlap", yaml: stream("SELECT * FROM p WHERE tagged_users && (SELECT id FROM m WHERE org_id = auth.parameter('org_id'))"), loadErr: "operator && (array overlap) is not supported"},
	{name: "supported-sql.mdx: functions in WHERE", yaml: stream("SELECT * FROM p WHERE upper(owner_id) = auth.user_id()"), loadErr: "function upper() is not supported"},
	{name: "supported-sql.mdx: ->> on a JSON column", yaml: stream("SELECT * FROM items WHERE metadata ->> 'owner' = auth.user_id()"),
		checks: []docCheck{{alice, "items", map[string]any{"id": "i", "metadata": map[string]any{"owner": "alice"}}, true}, {alice, "items", map[string]any{"id": "i", "metadata": `{"owner":"alice"}`}, true}, {alice, "items", map[string]any{"id": "i", "metadata": `{"owner":"bob"}`}, false}, {alice, "items", map[string]any{"id": "i", "metadata": "not json"}, false}}},
	{name: "supported-sql.mdx: CASE", yaml: stream("SELECT * FROM r WHERE CASE WHEN a THEN b END = auth.user_id()"), loadErr: "CASE is not supported"},
	{name: "supported-sql.mdx: arithmetic", yaml: stream("SELECT * FROM r WHERE owner_id = auth.user_id() AND n + 1 = 2"), loadErr: "operator + is not supported"},
	{name: "streams/overview.mdx: ORDER BY", yaml: stream("SELECT * FROM r WHERE owner_id = auth.user_id() ORDER BY x"), loadErr: "ORDER BY is not supported"},
	{name: "rules/parameter-queries.mdx: request.user_id() parameter", yaml: "bucket_definitions:\n  user_lists:\n    parameters: SELECT request.user_id() as user_id\n    data:\n      - SELECT * FROM lists WHERE lists.owner_id = bucket.user_id\n",
		checks: []docCheck{{alice, "lists", map[string]any{"id": "l", "owner_id": "alice"}, true}, {alice, "lists", map[string]any{"id": "l", "owner_id": "bob"}, false}}},
	{name: "rules/parameter-queries.mdx: legacy token_parameters.user_id", yaml: "bucket_definitions:\n  by_user:\n    parameters: SELECT token_parameters.user_id as user_id\n    data:\n      - SELECT * FROM lists WHERE lists.owner_id = bucket.user_id\n",
		checks: []docCheck{{alice, "lists", map[string]any{"id": "l", "owner_id": "alice"}, true}, {alice, "lists", map[string]any{"id": "l", "owner_id": "bob"}, false}}},
	{name: "rules/parameter-queries.mdx: legacy token_parameters custom claim", yaml: "bucket_definitions:\n  by_team:\n    parameters: SELECT token_parameters.team as team\n    data:\n      - SELECT * FROM boards WHERE boards.team = bucket.team\n",
		checks: []docCheck{{alice, "boards", map[string]any{"id": "b", "team": "red"}, true}, {alice, "boards", map[string]any{"id": "b", "team": "blue"}, false}}},
	{name: "rules/parameter-queries.mdx: request.jwt() ->> claim", yaml: "bucket_definitions:\n  org:\n    parameters: SELECT request.jwt() ->> 'org_id' as org_id\n    data:\n      - SELECT * FROM projects WHERE projects.org_id = bucket.org_id\n",
		checks: []docCheck{{alice, "projects", map[string]any{"id": "p", "org_id": "o1"}, true}, {alice, "projects", map[string]any{"id": "p", "org_id": "o2"}, false}}},
	{name: "rules/parameter-queries.mdx: filter on additional columns", yaml: "bucket_definitions:\n  admin_users:\n    parameters: |\n      SELECT id as user_id FROM users WHERE\n         users.id = request.user_id() AND\n         users.is_admin = true\n    data:\n      - SELECT * FROM lists WHERE lists.owner_id = bucket.user_id\n",
		checks: []docCheck{{admin, "lists", map[string]any{"id": "l", "owner_id": "root"}, true}, {alice, "lists", map[string]any{"id": "l", "owner_id": "alice"}, false}}},
	{name: "rules/parameter-queries.mdx: join table", yaml: "bucket_definitions:\n  user_lists:\n    parameters: |\n      SELECT list_id FROM user_lists WHERE user_lists.user_id = request.user_id()\n    data:\n      - SELECT * FROM lists WHERE lists.id = bucket.list_id\n      - SELECT * FROM todos WHERE todos.list_id = bucket.list_id\n",
		checks: []docCheck{{alice, "todos", map[string]any{"id": "t", "list_id": "lb"}, true}, {alice, "todos", map[string]any{"id": "t", "list_id": "lc"}, false}}},
	{name: "rules/parameter-queries.mdx: multiple columns", yaml: "bucket_definitions:\n  owned_org_lists:\n    parameters: SELECT id as list_id, org_id FROM lists WHERE owner_id = request.user_id()\n    data:\n      - SELECT * FROM todos WHERE todos.list_id = bucket.list_id and todos.org_id = bucket.org_id\n",
		checks: []docCheck{{alice, "todos", map[string]any{"id": "t", "list_id": "la", "org_id": "o1"}, true}, {alice, "todos", map[string]any{"id": "t", "list_id": "la", "org_id": "o2"}, false}}},
	{name: "rules/parameter-queries.mdx: multiple parameter queries", yaml: "bucket_definitions:\n  user_lists:\n    parameters:\n      - SELECT id as list_id FROM lists WHERE owner_id = request.user_id()\n      - SELECT list_id FROM user_lists WHERE user_lists.user_id = request.user_id()\n    data:\n      - SELECT * FROM todos WHERE todos.list_id = bucket.list_id\n",
		checks: []docCheck{{alice, "todos", map[string]any{"id": "t", "list_id": "la"}, true}, {alice, "todos", map[string]any{"id": "t", "list_id": "lb"}, true}, {alice, "todos", map[string]any{"id": "t", "list_id": "lc"}, false}}},
	{name: "rules/parameter-queries.mdx: json_each parameter query", yaml: "bucket_definitions:\n  user_projects:\n    parameters: SELECT project_id FROM json_each(request.jwt() -> 'project_ids')\n    data:\n      - SELECT * FROM projects WHERE id = bucket.project_id\n", loadErr: ":3: bucket \"user_projects\": table-valued function json_each() is not supported"},
	{name: "rules/parameter-queries.mdx: no output columns", yaml: "bucket_definitions:\n  global_admins:\n    parameters: SELECT FROM users WHERE users.id = request.user_id() AND users.is_admin = true\n    data:\n      - SELECT * FROM admin_settings\n",
		checks: []docCheck{{admin, "admin_settings", map[string]any{"id": "s"}, true}, {alice, "admin_settings", map[string]any{"id": "s"}, false}}},
	{name: "rules/parameter-queries.mdx: no output columns, no user binding", yaml: "bucket_definitions:\n  global_admins:\n    parameters: SELECT FROM users WHERE users.is_admin = true\n    data:\n      - SELECT * FROM admin_settings\n", loadErr: "the rows of users cannot be found"},
	{name: "streams/queries.mdx: auth.user_id() IN (SELECT …)", yaml: stream("SELECT * FROM admin_settings WHERE auth.user_id() IN (SELECT id FROM users WHERE is_admin = true)"),
		checks: []docCheck{{admin, "admin_settings", map[string]any{"id": "s"}, true}, {alice, "admin_settings", map[string]any{"id": "s"}, false}}},
	{name: "rules/client-parameters.mdx: client parameter is open", yaml: "bucket_definitions:\n  posts:\n    parameters: SELECT (request.parameters() ->> 'current_page') as page_number\n    data:\n      - SELECT * FROM posts WHERE page_number = bucket.page_number\n", open: 1,
		checks: []docCheck{{alice, "posts", map[string]any{"id": "p", "page_number": 1}, false}}},
	{name: "rules/client-parameters.mdx: client id selects projects", yaml: "bucket_definitions:\n  selected_projects:\n    parameters: SELECT id as project_id FROM projects WHERE id in request.parameters() ->> 'selected_projects'\n    data:\n      - SELECT * FROM projects WHERE projects.id = bucket.project_id\n", open: 1,
		checks: []docCheck{{alice, "projects", map[string]any{"id": "p1"}, false}}},
	{name: "rules/client-parameters.mdx: claim IN with a client choice", yaml: "bucket_definitions:\n  selected_projects:\n    parameters: SELECT id as project_id FROM projects WHERE org_id IN request.jwt() ->> 'orgs' AND id IN request.parameters() ->> 'ids'\n    data:\n      - SELECT * FROM projects WHERE projects.id = bucket.project_id\n",
		checks: []docCheck{{User{ID: "u", Claims: map[string]any{"orgs": []any{"o1"}}}, "projects", map[string]any{"id": "p1", "org_id": "o1"}, true}, {User{ID: "u", Claims: map[string]any{"orgs": []any{"o2"}}}, "projects", map[string]any{"id": "p1", "org_id": "o1"}, false}}},
	{name: "rules/global-buckets.mdx: global bucket", yaml: "bucket_definitions:\n  global_bucket:\n    data:\n      - SELECT * FROM todos\n      - SELECT * FROM lists WHERE archived = false\n", open: 2,
		checks: []docCheck{{alice, "lists", map[string]any{"id": "l", "archived": false}, false}}},
	{name: "rules/data-queries.mdx: every data query uses every parameter", yaml: "bucket_definitions:\n  b:\n    parameters: SELECT request.user_id() as user_id\n    data:\n      - SELECT * FROM lists\n", loadErr: "does not use bucket.user_id"},
	{name: "rules/many-to-many-join-tables.mdx: subquery in sync rules", yaml: "bucket_definitions:\n  b:\n    parameters: SELECT request.user_id() as user_id\n    data:\n      - SELECT * FROM lists WHERE id IN (SELECT list_id FROM shares WHERE user_id = bucket.user_id)\n", loadErr: "a subquery is not supported in sync rules"},
	{name: "advanced/case-sensitivity.mdx: unquoted names are lower-case, quoted keep their case", yaml: "bucket_definitions:\n  b:\n    parameters: SELECT request.user_id() as User_ID\n    data:\n      - SELECT \"ID\" as id FROM \"TODOs\" WHERE \"TODOs\".\"ListOwner\" = bucket.user_id AND Done = 0\n",
		checks: []docCheck{{alice, "TODOs", map[string]any{"id": "t", "ListOwner": "alice", "done": int64(0)}, true}, {alice, "TODOs", map[string]any{"id": "t", "listowner": "alice", "done": int64(0)}, false}, {alice, "todos", map[string]any{"id": "t", "ListOwner": "alice", "done": int64(0)}, false}}},
	{name: "streams/migration.mdx: request.user_id() in a stream", yaml: stream("SELECT * FROM lists WHERE owner_id = request.user_id()"), loadErr: "request.user_id() is sync rules syntax"},
}

// docDB holds the rows the doc cases' subqueries and parameter queries find.
var docDB = db{
	"issues":          {{"_id": "i1", "owner_id": "alice"}, {"_id": "i2", "owner_id": "bob"}},
	"document_shares": {{"_id": "s1", "document_id": "d1", "shared_with": "alice"}, {"_id": "s2", "document_id": "d2", "shared_with": "carol"}},
	"users":           {{"_id": "alice", "primary_list_id": "la", "is_admin": false}, {"_id": "root", "is_admin": true}},
	"user_lists":      {{"_id": "u1", "user_id": "alice", "list_id": "lb"}},
	"lists":           {{"_id": "la", "owner_id": "alice", "org_id": "o1"}, {"_id": "lb", "owner_id": "bob"}},
	"projects":        {{"_id": "p1", "org_id": "o1"}},
}

func TestDocConstructs(t *testing.T) {
	for _, tc := range docCases {
		t.Run(tc.name, func(t *testing.T) {
			c, err := Parse("sync.yaml", []byte(tc.yaml))
			if tc.loadErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.loadErr) {
					t.Fatalf("Parse error = %v, want one containing %q\n%s", err, tc.loadErr, tc.yaml)
				}
				return
			}
			if err != nil {
				t.Fatalf("Parse: %v\n%s", err, tc.yaml)
			}
			if got := len(c.Open()); got != tc.open || tc.openWhy != "" && !strings.Contains(c.Open()[0].Reason, tc.openWhy) {
				t.Errorf("Open() = %+v, want %d entries (%q)", c.Open(), tc.open, tc.openWhy)
			}
			for _, ck := range tc.checks {
				got := c.Check(Input{Op: "PUT", Table: ck.table, After: ck.doc, User: ck.user, Parents: docDB.parents(nil)})
				if got.Allow != ck.allow {
					t.Errorf("PUT %s %v as %s: %+v, want allow %v", ck.table, ck.doc, ck.user.ID, got, ck.allow)
				}
			}
		})
	}
}
