package reporttest_test

import (
	"bytes"
	"compress/zlib"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/infermeter/infermeter/api/report"
	"github.com/infermeter/infermeter/api/report/reporttest"
)

// build makes a PDF of the objects (object i+1 is objs[i]) with a classic
// cross-reference table, laid out as gopdf does; object 1 is the catalog.
func build(objs ...string) []byte {
	var b bytes.Buffer
	b.WriteString("%PDF-1.7\n%\xe2\xe3\xcf\xd3\n\n")
	offsets := make([]int, len(objs))
	for i, o := range objs {
		offsets[i] = b.Len()
		fmt.Fprintf(&b, "%d 0 obj\n%s\nendobj\n\n", i+1, o)
	}
	xref := b.Len()
	fmt.Fprintf(&b, "xref\n0 %d\n0000000000 65535 f \n", len(objs)+1)
	for _, off := range offsets {
		fmt.Fprintf(&b, "%010d 00000 n \n", off)
	}
	fmt.Fprintf(&b, "trailer\n<<\n/Size %d\n/Root 1 0 R\n>>\nstartxref\n%d\n%%%%EOF\n", len(objs)+1, xref)
	return b.Bytes()
}

// stream makes a stream object of dict entries and data.
func stream(dict, data string) string {
	return fmt.Sprintf("<<\n%s/Length %d\n>>\nstream\n%s\nendstream", dict, len(data), data)
}

func deflate(s string) string {
	var b bytes.Buffer
	zw := zlib.NewWriter(&b)
	zw.Write([]byte(s))
	zw.Close()
	return b.String()
}

// cmapStream wraps bfchar and bfrange sections in a ToUnicode CMap as gopdf
// writes it.
func cmapStream(sections string) string {
	return stream("", "/CIDInit /ProcSet findresource begin\n12 dict begin\nbegincmap\n"+
		"/CIDSystemInfo << /Registry (Adobe)/Ordering (UCS)/Supplement 0>> def\n"+
		"/CMapName /Adobe-Identity-UCS def /CMapType 2 def\n"+
		"1 begincodespacerange\n<0000><FFFF>\nendcodespacerange\n"+
		sections+"endcmap CMapName currentdict /CMap defineresource pop end end\n")
}

const type0 = "<<\n/BaseFont /GoRegular\n/Encoding /Identity-H\n/Subtype /Type0\n/ToUnicode %d 0 R\n/Type /Font\n>>"

// doc makes a one-page PDF showing content with the font /F1 (object 6,
// font is its dictionary, with %d for the ToUnicode object 7) and the
// ToUnicode CMap of sections.
func doc(content, font, sections string) []byte {
	return build(
		"<<\n/Type /Catalog\n/Pages 2 0 R\n>>",
		"<<\n/Type /Pages\n/Count 1\n/Kids [ 3 0 R ]\n>>",
		"<<\n  /Type /Page\n  /Parent 2 0 R\n  /Resources 4 0 R\n  /Contents  5 0 R \n>>",
		"<<\n\t/ProcSet [/PDF /Text]\n\t/Font <<\n\t\t/F1 6 0 R\n\t>>\n>>",
		stream("/Filter/FlateDecode", deflate(content)),
		fmt.Sprintf(font, 7),
		cmapStream(sections),
	)
}

// abc maps the glyphs 4 to "€", 5 to U+1F600 (a surrogate pair) and 0x10 to
// "!" (bfchar); 1 to 3 to "a" to "c", 0xA to 0xC to "x" to "z" and 0x14 and
// 0x15 to "ß" and "ü" (bfrange).
const abc = "3 beginbfchar\n<0004> <20AC>\n<0005> <D83DDE00>\n<0010> <0021>\nendbfchar\n" +
	"3 beginbfrange\n<0001><0003><0061>\n<000A> <000C> <0078>\n<0014><0015>[<00DF> <00FC>]\nendbfrange\n"

func TestText(t *testing.T) {
	f := func(content string, want ...string) {
		t.Helper()
		got, err := reporttest.Text(doc(content, type0, abc))
		if err != nil {
			t.Fatalf("%q: %s", content, err)
		}
		if !slices.Equal(got, want) {
			t.Fatalf("%q: %q, want %q", content, got, want)
		}
	}
	f("")
	f("BT\n/F1 10 Tf\n[<000100020003>] TJ\nET\n", "abc")
	f("BT /F1 10 Tf [<0001> -120 <0002>3<0 00 3>] TJ ET", "abc")
	f("BT /F1 10 Tf [<001>] TJ ET", "!") // an odd last digit is followed by 0
	f("BT /F1 10 Tf <000A 000B\n000C> Tj ET BT /F1 9 Tf (\\000\\024\\000\\025) Tj ET", "xyz", "ßü")
	f("BT /F1 10 Tf [<0004 0005>] TJ [] TJ <> Tj ET", "€\U0001F600", "")
	f("% a comment (<0001>) Tj\nBT /F1 10 Tf 0.000 0.000 0.000 rg [<0001>] TJ ET q 1 0 0 RG 1 2 m 3 4 l S Q", "a")

	// A real report: the text as written.
	var buf bytes.Buffer
	s := &report.Scheduled{Org: "Zürich Ελλάδα Москва 東京", Name: "a\tb", Sections: []report.Section{{Title: "(x) \\ y"}}}
	if err := report.WriteScheduledPDF(&buf, s, time.Unix(0, 0)); err != nil {
		t.Fatal(err)
	}
	got, err := reporttest.Text(buf.Bytes())
	want := []string{"Zürich Ελλάδα Москва \uFFFD\uFFFD report: a b", "Period: ", "Generated: ", "(x) \\ y", "Page 1 of 1"}
	if err != nil || !slices.Equal(got, want) {
		t.Fatalf("%q, %v, want %q", got, err, want)
	}
}

func TestTextErrors(t *testing.T) {
	f := func(pdf []byte, sentinel error, msg string) {
		t.Helper()
		_, err := reporttest.Text(pdf)
		if !errors.Is(err, sentinel) || err.Error() != msg {
			t.Errorf("%v, want %q wrapping %v", err, msg, sentinel)
		}
	}
	show := "BT /F1 10 Tf [<0001>] TJ ET"
	good := doc(show, type0, abc)

	f(nil, reporttest.ErrStructure, "malformed PDF structure: no %PDF-1.x header")
	f(good[:len(good)-10], reporttest.ErrStructure, "malformed PDF structure: no startxref and %%EOF at the end (truncated?)")
	f(bytes.Replace(good, []byte("/Pages 2 0 R"), []byte("/Pages 9 0 R"), 1), reporttest.ErrStructure,
		"malformed PDF structure: object 9 is not in the xref table")
	f(bytes.Replace(good, []byte("/Type /Page\n  "), []byte("/Type /Pages\n "), 1), reporttest.ErrStructure,
		"page 1 (object 3): malformed PDF structure: not a /Type /Page (nested page trees are not read)")
	// Streams and fonts.
	f(doc(show, "<< /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>", abc), reporttest.ErrFont,
		"page 1 (object 3): unreadable PDF text: font object 6 is not a Type0 font with the Identity-H encoding")
	f(doc(show, "<< /Subtype /Type0 /Encoding /Identity-H /Other %d >>", abc), reporttest.ErrFont,
		"page 1 (object 3): unreadable PDF text: font object 6 has no /ToUnicode")
	f(doc("BT [<0001>] TJ ET", type0, abc), reporttest.ErrFont,
		"page 1 (object 3): unreadable PDF text: text shown with TJ before a font is selected")
	f(doc("BT /F2 10 Tf (a) Tj ET", type0, abc), reporttest.ErrFont,
		"page 1 (object 3): unreadable PDF text: no font /F2 in the page's resources")
	f(doc("BT /F1 10 Tf [<0009>] TJ ET", type0, abc), reporttest.ErrFont,
		"page 1 (object 3): unreadable PDF text: glyph 0009 of font /F1 is not in its ToUnicode CMap")
	f(doc("BT /F1 10 Tf (a) Tj ET", type0, abc), reporttest.ErrFont,
		"page 1 (object 3): unreadable PDF text: a string of 1 bytes in font /F1, whose codes take two")
	f(doc(show, type0, "1 beginbfrange\n<0001><0003><00FF>\nendbfrange\n"), reporttest.ErrFont,
		"page 1 (object 3): unreadable PDF text: the ToUnicode CMap of font object 6: bfrange 0001-0003: the destination's last byte overflows")
	f(doc(show, type0, "1 beginbfchar\n<0001>\nendbfchar\n"), reporttest.ErrFont,
		"page 1 (object 3): unreadable PDF text: the ToUnicode CMap of font object 6: a bfchar entry without a destination")
	f(doc(show, type0, "1 beginbfrange\n<0001><0003><0061>\n"), reporttest.ErrFont,
		"page 1 (object 3): unreadable PDF text: the ToUnicode CMap of font object 6: unexpected \"endcmap\" in beginbfrange")
	page := func(content string) []byte {
		return build(
			"<<\n/Type /Catalog\n/Pages 2 0 R\n>>",
			"<<\n/Type /Pages\n/Count 1\n/Kids [ 3 0 R ]\n>>",
			"<<\n  /Type /Page\n  /Contents 4 0 R\n>>",
			content,
		)
	}
	f(page(stream("/Filter/FlateDecode", "not zlib")), reporttest.ErrStream,
		"page 1 (object 3): unreadable PDF stream: object 4: cannot inflate: zlib: invalid header")
	f(page("<<\n/Length 5\n>>\nstream\nabc\nendstream"), reporttest.ErrStream,
		"page 1 (object 3): unreadable PDF stream: object 4: no endstream after /Length 5")
	f(page("<<\n/Length 99999\n>>\nstream\nabc\nendstream"), reporttest.ErrStream,
		"page 1 (object 3): unreadable PDF stream: object 4: /Length 99999 runs past the end of the file")
	f(page("<<\n>>\nstream\nabc\nendstream"), reporttest.ErrStream,
		"page 1 (object 3): unreadable PDF stream: object 4: a stream without a direct /Length")
	f(page("<< /Type /XObject >>"), reporttest.ErrStream,
		"page 1 (object 3): unreadable PDF stream: object 4 is not a stream")
	f(page(stream("", "BT (a) Tj ET")), reporttest.ErrFont,
		"page 1 (object 3): unreadable PDF text: text shown with Tj before a font is selected")
}

// FuzzText checks that Text never panics and that its errors wrap its
// sentinels, seeded with the documents of package report.
func FuzzText(f *testing.F) {
	now := time.Date(2026, 11, 27, 6, 0, 0, 0, time.UTC)
	var b bytes.Buffer
	add := func(err error) {
		if err != nil {
			f.Fatal(err)
		}
		f.Add(bytes.Clone(b.Bytes()))
		b.Reset()
	}
	add(report.WriteUsagePDF(&b, &report.Usage{
		Org: "Acme (Zürich) 東京", Period: "2026-11", Overview: report.Overview{Requests: 3, CostNano: 4_027_000},
		Bars:       []report.Bar{{Label: "2026-11-01", CostNano: 1_000_000}, {Label: "2026-11-02", CostNano: 3_027_000}},
		TopMembers: []report.Line{{Name: "alice@acme.example", Requests: 3, Tokens: 10, CostNano: 4_027_000}},
	}, now))
	add(report.WriteInvoicePDF(&b, &report.Invoice{
		Number: "ACME-2026-0001", Org: "Acme Größe",
		Lines:     []report.InvoiceLine{{Group: "research", Model: "openai/gpt-4o-mini", BillingMode: "org_pays", Requests: 1, CostNano: 630_000}},
		Subtotals: []report.InvoiceSubtotal{{Group: "research", Requests: 1, CostNano: 630_000}}, TotalNano: 630_000,
	}, now))
	add(report.WriteScheduledPDF(&b, &report.Scheduled{Org: "Acme", Name: "Daily", Sections: []report.Section{
		{Title: "Usage summary", Pairs: [][2]string{{"Requests", "3"}}},
		{Title: "Top users", Tables: []report.Table{{Columns: []string{"#", "Member"}, Left: 2, Rows: [][]string{{"1", "alice"}}}}},
	}}, now))
	f.Add(doc("BT /F1 10 Tf [<0001> -120 <0002>] TJ (\\000\\024) Tj ET", type0, abc))
	f.Add([]byte("%PDF-1.7\nxref\n0 2\nstartxref\n9\n%%EOF\n"))
	f.Fuzz(func(t *testing.T, pdf []byte) {
		_, err := reporttest.Text(pdf)
		if err != nil && !errors.Is(err, reporttest.ErrStructure) && !errors.Is(err, reporttest.ErrStream) && !errors.Is(err, reporttest.ErrFont) {
			t.Fatalf("an error without a sentinel: %v", err)
		}
		if strings.Contains(fmt.Sprint(err), "%!") {
			t.Fatalf("a malformed message: %v", err)
		}
	})
}
