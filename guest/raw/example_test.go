package raw_test

import (
	"fmt"

	"github.com/syncgate/syncgate/guest/raw"
)

func ExampleNewMembers() {
	m := raw.NewMembers([]byte(`{"title":"Shop","done":false}`))
	for m.Next() {
		fmt.Printf("%s=%s\n", m.Key(), m.Value())
	}
	fmt.Println(m.Err())
	// Output:
	// title="Shop"
	// done=false
	// <nil>
}

func ExampleFields() {
	err := raw.Fields([]byte(`{"a":1,"b":[2]}`), func(key, value []byte) bool {
		fmt.Printf("%s %s\n", key, value)
		return true
	})
	fmt.Println(err)
	// Output:
	// a 1
	// b [2]
	// <nil>
}

func ExampleMergeObjects() {
	doc, err := raw.MergeObjects([]byte(`{"title":"Shop","done":false}`), []byte(`{"done":true}`))
	fmt.Printf("%s %v\n", doc, err)
	// Output: {"title":"Shop","done":true} <nil>
}
