// Command tool is a fixture for the API call scanner: it links store, not unused.
package main

import (
	"context"

	"example.com/fake/store"
)

func main() { _ = store.Grow(context.Background(), nil) }
