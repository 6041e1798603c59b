package traces_test

import (
	"errors"
	"fmt"
	"io"
	"log"

	"github.com/mezzo-cluster/mezzo/traces"
)

func ExampleOpen() {
	src, closer, err := traces.Open("swim:fb2009", traces.Options{})
	if err != nil {
		log.Fatal(err)
	}
	defer closer.Close()
	var jobs, maps, reduces int
	for {
		j, err := src.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			log.Fatal(err)
		}
		if jobs == 0 {
			fmt.Printf("%s at %v: %d map(s) of %v, %d reduce(s) of %v\n",
				j.ID, j.Submit, j.Maps, j.MapDuration, j.Reduces, j.ReduceDuration)
		}
		jobs++
		maps += j.Maps
		reduces += j.Reduces
	}
	fmt.Println(jobs, "jobs,", maps, "maps,", reduces, "reduces")
	// Output:
	// job0 at 49s: 1 map(s) of 3.177s, 1 reduce(s) of 3.354s
	// 5894 jobs, 406005 maps, 31678 reduces
}
