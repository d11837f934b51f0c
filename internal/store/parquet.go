package store

import (
	"fmt"
	"os"
	"unsafe"

	"github.com/apache/arrow-go/v18/parquet"
	"github.com/apache/arrow-go/v18/parquet/compress"
	"github.com/apache/arrow-go/v18/parquet/file"
	"github.com/apache/arrow-go/v18/parquet/schema"
)

// Chunk files are written from Go straight out of the staged batches, column by column, with
// plain encoding and a fast codec: that is what keeps ingest cheap. Merges rewrite them with
// DuckDB, sorted and ZSTD-compressed.

// pqSchema builds the Parquet schema of columns (DuckDB type names, see rawColumns).
func pqSchema(cols []rawColumn) (*schema.GroupNode, error) {
	fields := make(schema.FieldList, 0, len(cols))
	for _, c := range cols {
		var lt schema.LogicalType
		pt := parquet.Types.Int32
		switch c.typ {
		case "BIGINT":
			lt, pt = schema.NewIntLogicalType(64, true), parquet.Types.Int64
		case "UBIGINT":
			lt, pt = schema.NewIntLogicalType(64, false), parquet.Types.Int64
		case "UINTEGER":
			lt = schema.NewIntLogicalType(32, false)
		case "USMALLINT":
			lt = schema.NewIntLogicalType(16, false)
		case "UTINYINT":
			lt = schema.NewIntLogicalType(8, false)
		default:
			return nil, fmt.Errorf("column %s: no Parquet mapping for %s", c.name, c.typ)
		}
		n, err := schema.NewPrimitiveNodeLogical(c.name, parquet.Repetitions.Required, lt, pt, -1, -1)
		if err != nil {
			return nil, err
		}
		fields = append(fields, n)
	}
	return schema.NewGroupNode("schema", parquet.Repetitions.Required, fields, -1)
}

// chunkProps are the writer properties of chunk files.
var chunkProps = parquet.NewWriterProperties(
	parquet.WithDictionaryDefault(false),
	parquet.WithCompression(compress.Codecs.Snappy),
	parquet.WithStats(true),
	parquet.WithMaxRowGroupLength(1<<20),
	parquet.WithDataPageSize(1<<20),
	parquet.WithCreatedBy("yocho"),
)

// colSink receives one column's values, in pieces.
type colSink struct {
	w   file.ColumnChunkWriter
	err error
}

func (s *colSink) int64s(v []int64) {
	if s.err == nil {
		_, s.err = s.w.(*file.Int64ColumnChunkWriter).WriteBatch(v, nil, nil)
	}
}

func (s *colSink) uint64s(v []uint64) {
	s.int64s(unsafe.Slice((*int64)(unsafe.Pointer(unsafe.SliceData(v))), len(v)))
}

func (s *colSink) int32s(v []int32) {
	if s.err == nil {
		_, s.err = s.w.(*file.Int32ColumnChunkWriter).WriteBatch(v, nil, nil)
	}
}

func (s *colSink) uint32s(v []uint32) {
	s.int32s(unsafe.Slice((*int32)(unsafe.Pointer(unsafe.SliceData(v))), len(v)))
}

// writeParquet writes one file at path (a .tmp name) with one row group: fill is called once per
// column, in order, and must give every column the same number of values.
func writeParquet(path string, sc *schema.GroupNode, fill func(col int, s *colSink)) (err error) {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	closed := false // the Parquet writer closes f when it closes
	defer func() {
		if !closed {
			_ = f.Close()
		}
		if err != nil {
			_ = os.Remove(path)
		}
	}()
	pw := file.NewParquetWriter(f, sc, file.WithWriterProps(chunkProps))
	rg := pw.AppendRowGroup()
	for c := 0; c < sc.NumFields(); c++ {
		cw, err := rg.NextColumn()
		if err != nil {
			return err
		}
		s := &colSink{w: cw}
		fill(c, s)
		if s.err != nil {
			return fmt.Errorf("column %d: %w", c, s.err)
		}
		if err := cw.Close(); err != nil {
			return err
		}
	}
	if err := rg.Close(); err != nil {
		return err
	}
	closed = true
	return pw.Close()
}
