package failover

import (
	"encoding/csv"
	"encoding/json"
	"io"
	"strconv"
)

// WriteCSV writes the rows with a header line.
func WriteCSV(w io.Writer, rows []Row) error {
	cw := csv.NewWriter(w)
	_ = cw.Write([]string{"agents", "tasks", "recovery_s", "confirmed_s", "lease_s", "detect_s", "agents_s", "frameworks_s", "allocate_s", "reregister_s", "lost_tasks"})
	f := func(v float64) string { return strconv.FormatFloat(v, 'f', 4, 64) }
	for _, r := range rows {
		_ = cw.Write([]string{strconv.Itoa(r.Agents), strconv.Itoa(r.Tasks), f(r.RecoverySec), f(r.ConfirmedSec), f(r.LeaseSec), f(r.DetectSec), f(r.AgentsSec),
			f(r.FrameworksSec), f(r.AllocateSec), f(r.ReregisterSec), strconv.Itoa(r.LostTasks)})
	}
	cw.Flush()
	return cw.Error()
}

// Summary is the --json form.
type Summary struct {
	Experiment string `json:"experiment"`
	Rows       []Row  `json:"rows"`
}

// WriteJSON writes {"experiment":"failover","rows":[...]}.
func WriteJSON(w io.Writer, rows []Row) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(Summary{Experiment: "failover", Rows: rows})
}
