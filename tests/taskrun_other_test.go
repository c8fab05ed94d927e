//go:build !unix

package tests

import "testing"

func checkTaskRunStops(t *testing.T, root string) {
	t.Log("stopping go tool task run by its process group is checked on Unix only")
}
