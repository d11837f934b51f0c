package intel

import "testing"

func FuzzParse(f *testing.F) {
	f.Add(byte(0), []byte("41.108.179.197\nevil.example.com # x\n"))
	f.Add(byte(1), []byte("indicator,confidence\nevil.example.com,90\n"))
	f.Add(byte(2), []byte(sampleBundle))
	f.Add(byte(3), []byte(`{"eventid":"cowrie.session.file_download","url":"http://198.18.10.1/x"}`))
	formats := []Format{FormatList, FormatCSV, FormatSTIX, FormatHoneypot}
	f.Fuzz(func(t *testing.T, which byte, data []byte) {
		inds, _, _ := Parse(formats[int(which)%len(formats)], data, 50)
		for _, ind := range inds {
			if k, v, ok := Classify(ind.Value); !ok || k != ind.Kind || v != ind.Value {
				t.Fatalf("indicator %+v does not read back (%v %q %v)", ind, k, v, ok)
			}
			if ind.Confidence < 0 || ind.Confidence > 100 {
				t.Fatalf("confidence %d", ind.Confidence)
			}
		}
	})
}
