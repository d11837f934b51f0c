package store

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"os"
	"slices"
	"unsafe"

	"github.com/klauspost/compress/s2"
)

// A minimal Parquet writer for chunk files: one row group of required INT32/INT64 columns (with
// min/max statistics) and BYTE_ARRAY strings (without), plain encoding, Snappy pages. Staged columns are already in memory, so writing is
// a copy into a page buffer and a compression; a general Parquet library spent most of its time
// growing buffers. Merges rewrite chunks with DuckDB (sorted, ZSTD).

const pqPageBytes = 1 << 20 // uncompressed bytes per data page

// pqWriter writes one chunk file.
type pqWriter struct {
	f    *os.File
	bw   *bufio.Writer
	off  int64
	cols []rawColumn
	rows int64
	meta []pqColumnMeta

	// the column being written
	cur      int
	page     []byte // plain values of the current page
	pageVals int
	comp     []byte
	colStart int64
	colVals  int64
	colUnc   int64
	min, max uint64 // as the column's type orders them
	haveMM   bool
}

type pqColumnMeta struct {
	start, unc, comp, vals int64
	min, max               uint64
	haveMM                 bool
}

func pqPhysical(typ string) (phys int32, width int, signed bool, converted int32, bits int8) {
	switch typ {
	case "BIGINT":
		return 2, 8, true, 18, 64
	case "UBIGINT":
		return 2, 8, false, 14, 64
	case "UINTEGER":
		return 1, 4, false, 13, 32
	case "USMALLINT":
		return 1, 4, false, 12, 16
	case "UTINYINT":
		return 1, 4, false, 11, 8
	case "VARCHAR":
		return 6, 0, false, 0, 0 // BYTE_ARRAY, UTF8
	}
	panic("store: no Parquet mapping for " + typ)
}

// pqScratch are the buffers a pqWriter reuses: one per writer goroutine.
type pqScratch struct{ page, comp []byte }

func newPQWriter(path string, cols []rawColumn, sc *pqScratch) (*pqWriter, error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, err
	}
	w := &pqWriter{f: f, bw: bufio.NewWriterSize(f, 1<<20), cols: cols, cur: -1}
	if cap(sc.page) < pqPageBytes {
		sc.page = make([]byte, 0, pqPageBytes)
	}
	w.page, w.comp = sc.page[:0], sc.comp
	w.write([]byte("PAR1"))
	return w, nil
}

func (w *pqWriter) write(b []byte) {
	n, _ := w.bw.Write(b) // errors surface at Flush
	w.off += int64(n)
}

// column starts column c; columns must come in order.
func (w *pqWriter) column(c int) {
	w.cur = c
	w.colStart, w.colVals, w.colUnc = w.off, 0, 0
	w.haveMM = false
	w.page, w.pageVals = w.page[:0], 0
}

// endColumn finishes the current column.
func (w *pqWriter) endColumn() {
	w.flushPage()
	w.meta = append(w.meta, pqColumnMeta{start: w.colStart, unc: w.colUnc, comp: w.off - w.colStart,
		vals: w.colVals, min: w.min, max: w.max, haveMM: w.haveMM})
	if w.cur == 0 {
		w.rows = w.colVals
	}
}

func (w *pqWriter) stat(v uint64, signed bool) {
	if !w.haveMM {
		w.min, w.max, w.haveMM = v, v, true
		return
	}
	if signed {
		if int64(v) < int64(w.min) {
			w.min = v
		}
		if int64(v) > int64(w.max) {
			w.max = v
		}
		return
	}
	w.min, w.max = min(w.min, v), max(w.max, v)
}

// int64s appends values of an INT64 column (signed as the column's type says).
func (w *pqWriter) int64s(v []int64) {
	if w.cols[w.cur].typ != "BIGINT" {
		w.uint64s(unsafe.Slice((*uint64)(unsafe.Pointer(unsafe.SliceData(v))), len(v)))
		return
	}
	appendPlain(w, v, true)
}

// uint64s appends values of an unsigned INT64 column.
func (w *pqWriter) uint64s(v []uint64) { appendPlain(w, v, false) }

// uint32s appends values of an unsigned INT32 column.
func (w *pqWriter) uint32s(v []uint32) { appendPlain(w, v, false) }

// appendPlain appends 32- or 64-bit values as they are in memory, keeping the column's min/max
// statistics (compared as signed or not).
func appendPlain[T int64 | uint64 | uint32](w *pqWriter, v []T, signed bool) {
	if len(v) == 0 {
		return
	}
	lo, hi := v[0], v[0]
	for _, x := range v {
		lo, hi = min(lo, x), max(hi, x)
	}
	w.stat(uint64(lo), signed)
	w.stat(uint64(hi), signed)
	width := int(unsafe.Sizeof(v[0]))
	w.appendRaw(unsafe.Slice((*byte)(unsafe.Pointer(unsafe.SliceData(v))), width*len(v)), width)
}

// appendRaw appends plain values as they are in memory, width bytes each, breaking pages at
// pqPageBytes.
func (w *pqWriter) appendRaw(b []byte, width int) {
	le := hostLittleEndian()
	for len(b) > 0 {
		room := (pqPageBytes - len(w.page)) / width
		if room == 0 {
			w.flushPage()
			continue
		}
		n := min(room*width, len(b))
		start := len(w.page)
		w.page = append(w.page, b[:n]...)
		if !le { // Parquet is little endian
			for i := start; i < len(w.page); i += width {
				slices.Reverse(w.page[i : i+width])
			}
		}
		w.pageVals += n / width
		b = b[n:]
	}
}

// hostLittleEndian tells whether values in memory are in Parquet's byte order.
func hostLittleEndian() bool {
	x := uint16(1)
	return *(*byte)(unsafe.Pointer(&x)) == 1
}

// uint16s appends values of an unsigned INT32 column holding 16-bit values.
func (w *pqWriter) uint16s(v []uint16) { appendNarrow(w, v) }

// uint8s appends values of an unsigned INT32 column holding 8-bit values.
func (w *pqWriter) uint8s(v []uint8) { appendNarrow(w, v) }

// appendNarrow appends values narrower than 32 bits to an unsigned INT32 column, widening each
// and keeping the page's min/max statistics.
func appendNarrow[T uint8 | uint16](w *pqWriter, v []T) {
	for len(v) > 0 {
		room := (pqPageBytes - len(w.page)) / 4
		if room == 0 {
			w.flushPage()
			continue
		}
		n := min(room, len(v))
		for _, x := range v[:n] {
			u := uint64(x)
			if !w.haveMM {
				w.min, w.max, w.haveMM = u, u, true
			}
			w.min, w.max = min(w.min, u), max(w.max, u)
			w.page = binary.LittleEndian.AppendUint32(w.page, uint32(x))
		}
		w.pageVals += n
		v = v[n:]
	}
}

// strings appends values of a VARCHAR column: each as its length (4 bytes) and its bytes.
func (w *pqWriter) strings(v []string) {
	for _, x := range v {
		if len(w.page) > 0 && len(w.page)+4+len(x) > pqPageBytes {
			w.flushPage()
		}
		w.page = binary.LittleEndian.AppendUint32(w.page, uint32(len(x)))
		w.page = append(w.page, x...)
		w.pageVals++
	}
}

func (w *pqWriter) flushPage() {
	if w.pageVals == 0 {
		return
	}
	w.comp = s2.EncodeSnappy(w.comp[:cap(w.comp)], w.page)
	var t thriftW
	t.i32(1, 0) // DATA_PAGE
	t.i32(2, int32(len(w.page)))
	t.i32(3, int32(len(w.comp)))
	t.beginStruct(5) // DataPageHeader
	t.i32(1, int32(w.pageVals))
	t.i32(2, 0) // PLAIN
	t.i32(3, 3) // RLE
	t.i32(4, 3) // RLE
	t.endStruct()
	t.stop()
	w.write(t.b)
	w.write(w.comp)
	w.colUnc += int64(len(t.b) + len(w.page))
	w.colVals += int64(w.pageVals)
	w.page, w.pageVals = w.page[:0], 0
}

// close writes the footer and closes the file; sc gets the buffers back.
func (w *pqWriter) close(sc *pqScratch) error {
	sc.page, sc.comp = w.page[:0], w.comp[:0]
	var t thriftW
	t.i32(1, 1)
	// schema
	t.listBegin(2, 12, len(w.cols)+1)
	t.begin()
	t.str(4, "schema")
	t.i32(5, int32(len(w.cols)))
	t.end()
	for _, c := range w.cols {
		phys, _, signed, conv, bits := pqPhysical(c.typ)
		t.begin()
		t.i32(1, phys)
		t.i32(3, 0) // REQUIRED
		t.str(4, c.name)
		t.i32(6, conv)
		t.beginStruct(10) // LogicalType
		if phys == 6 {
			t.beginStruct(1) // STRING
		} else {
			t.beginStruct(10) // INTEGER
			t.byte8(1, bits)
			t.boolean(2, signed)
		}
		t.endStruct()
		t.endStruct()
		t.end()
	}
	t.i64(3, w.rows)
	// one row group
	t.listBegin(4, 12, 1)
	t.begin()
	t.listBegin(1, 12, len(w.cols))
	var total int64
	for i, c := range w.cols {
		m := w.meta[i]
		total += m.unc
		phys, width, _, _, _ := pqPhysical(c.typ)
		t.begin()
		t.i64(2, m.start)
		t.beginStruct(3)
		t.i32(1, phys)
		t.listBegin(2, 5, 1)
		t.elemI32(0) // PLAIN
		t.listBegin(3, 8, 1)
		t.elemStr(c.name)
		t.i32(4, 1) // SNAPPY
		t.i64(5, m.vals)
		t.i64(6, m.unc)
		t.i64(7, m.comp)
		t.i64(9, m.start)
		if m.haveMM {
			t.beginStruct(12)
			t.i64(3, 0) // null_count
			t.bin(5, pqStat(m.max, width))
			t.bin(6, pqStat(m.min, width))
			t.endStruct()
		}
		t.endStruct()
		t.end()
	}
	t.i64(2, total)
	t.i64(3, w.rows)
	t.end()
	t.str(6, "yocho")
	t.stop()
	w.write(t.b)
	var tail [8]byte
	binary.LittleEndian.PutUint32(tail[:4], uint32(len(t.b)))
	copy(tail[4:], "PAR1")
	w.write(tail[:])
	if err := w.bw.Flush(); err != nil {
		_ = w.f.Close()
		return err
	}
	return w.f.Close()
}

// pqStat is a statistics value: the plain encoding of v, width bytes.
func pqStat(v uint64, width int) []byte {
	if width == 4 {
		return binary.LittleEndian.AppendUint32(nil, uint32(v))
	}
	return binary.LittleEndian.AppendUint64(nil, v)
}

// thriftW writes Thrift compact protocol.
type thriftW struct {
	b    []byte
	last []int16 // last field id, per open struct
	cur  int16
}

func (t *thriftW) uvarint(v uint64) { t.b = binary.AppendUvarint(t.b, v) }

func (t *thriftW) field(id int16, typ byte) {
	if d := id - t.cur; d > 0 && d <= 15 {
		t.b = append(t.b, byte(d)<<4|typ)
	} else {
		t.b = append(t.b, typ)
		t.uvarint(zigzag(int64(id)))
	}
	t.cur = id
}

func zigzag(v int64) uint64 { return uint64((v << 1) ^ (v >> 63)) }

func (t *thriftW) i32(id int16, v int32) { t.field(id, 5); t.uvarint(zigzag(int64(v))) }
func (t *thriftW) i64(id int16, v int64) { t.field(id, 6); t.uvarint(zigzag(v)) }
func (t *thriftW) byte8(id int16, v int8) {
	t.field(id, 3)
	t.b = append(t.b, byte(v))
}
func (t *thriftW) boolean(id int16, v bool) {
	if v {
		t.field(id, 1)
	} else {
		t.field(id, 2)
	}
}
func (t *thriftW) bin(id int16, v []byte) {
	t.field(id, 8)
	t.uvarint(uint64(len(v)))
	t.b = append(t.b, v...)
}
func (t *thriftW) str(id int16, v string) { t.bin(id, []byte(v)) }

// beginStruct starts a struct field; begin starts a struct element of a list.
func (t *thriftW) beginStruct(id int16) { t.field(id, 12); t.begin() }
func (t *thriftW) begin()               { t.last = append(t.last, t.cur); t.cur = 0 }
func (t *thriftW) end() {
	t.b = append(t.b, 0)
	t.cur = t.last[len(t.last)-1]
	t.last = t.last[:len(t.last)-1]
}
func (t *thriftW) endStruct() { t.end() }
func (t *thriftW) stop()      { t.b = append(t.b, 0) }

func (t *thriftW) listBegin(id int16, elem byte, n int) {
	t.field(id, 9)
	if n < 15 {
		t.b = append(t.b, byte(n)<<4|elem)
	} else {
		t.b = append(t.b, 0xf0|elem)
		t.uvarint(uint64(n))
	}
}
func (t *thriftW) elemI32(v int32)  { t.uvarint(zigzag(int64(v))) }
func (t *thriftW) elemStr(v string) { t.uvarint(uint64(len(v))); t.b = append(t.b, v...) }

// writeParquet writes one chunk file at path (a .tmp name) with columns cols: fill is called once
// per column, in order, and must give every column the same number of values. On error the file
// is removed.
func writeParquet(path string, cols []rawColumn, sc *pqScratch, fill func(col int, w *pqWriter)) error {
	w, err := newPQWriter(path, cols, sc)
	if err != nil {
		return err
	}
	for c := range cols {
		w.column(c)
		fill(c, w)
		w.endColumn()
		if w.colVals != w.rows {
			_ = w.f.Close()
			_ = os.Remove(path)
			return fmt.Errorf("column %s: %d values, %d rows", cols[c].name, w.colVals, w.rows)
		}
	}
	if err := w.close(sc); err != nil {
		_ = os.Remove(path)
		return err
	}
	return nil
}
