package dynamodb

import (
	"context"
	"fmt"
	"io"
	"sort"
	"text/tabwriter"
	"time"
)

// WriteLeases writes the shard leases of table as the store holds them, for people:
// owner, lease age (time since the owner's last renewal, by now, this host's clock),
// counter, the shard's checkpoint and state, then how many each worker holds. For
// `ddbtape status` with --checkpoint dynamodb://TABLE.
func (s *Store) WriteLeases(ctx context.Context, w io.Writer, table string, now time.Time) error {
	infos, err := s.ListLeases(ctx, table)
	if err != nil {
		return err
	}
	sort.Slice(infos, func(i, j int) bool {
		if infos[i].Finished != infos[j].Finished {
			return !infos[i].Finished
		}
		return infos[i].ShardID < infos[j].ShardID
	})
	owners := map[string]int{}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "shard leases of %s (app %s, table %s):\n", table, s.App(), s.TableName())
	fmt.Fprintln(tw, "SHARD\tOWNER\tLEASE AGE\tCOUNTER\tCHECKPOINT\tSTATE")
	for _, in := range infos {
		owner, age := in.Owner, "-"
		if owner == "" {
			owner = "-"
		} else {
			owners[owner]++
			if !in.RenewedAt.IsZero() {
				age = now.Sub(in.RenewedAt).Round(100 * time.Millisecond).String()
			}
		}
		state := "held"
		switch {
		case in.Finished:
			state = "finished"
		case in.Owner == "":
			state = "unowned"
		case !in.ExpiresAt.IsZero() && now.After(in.ExpiresAt):
			state = "expired"
		}
		seq := in.SequenceNumber
		if seq == "" {
			seq = "-"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\t%s\n", in.ShardID, owner, age, in.Counter, seq, state)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	names := make([]string, 0, len(owners))
	for o := range owners {
		names = append(names, o)
	}
	sort.Strings(names)
	for _, o := range names {
		fmt.Fprintf(w, "worker %s holds %d\n", o, owners[o])
	}
	return nil
}
