package secllama

import "testing"

func TestTerminalTextNeutralisesEscapesAcrossPieces(t *testing.T) {
	f, err := NewTerminalText()
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var got string
	for _, piece := range [][]byte{
		[]byte("copy \x1b]52;c;aGk="), []byte("\x07 \u009b2J \u202eok\n\t"), []byte("bad \xff \xf0\x9f"),
	} {
		s, err := f.Push(piece)
		if err != nil {
			t.Fatal(err)
		}
		got += s
	}
	end, err := f.Finish()
	if err != nil {
		t.Fatal(err)
	}
	got += end
	want := "copy ␛]52;c;aGk=␇ <U+009B>2J <U+202E>ok\n\tbad \uFFFD \uFFFD"
	if got != want {
		t.Fatalf("got %q, want %q", got, want)
	}
	f.Close()
	if _, err := f.PushString("x"); err != ErrClosed {
		t.Fatalf("after Close: %v", err)
	}
}
