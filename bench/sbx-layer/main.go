// Writes a kit's files/ as a layer by sbx's documented producer rules (spec/OCI-v2.md §4.3):
// files only (as spec/artifact.go enumerates them: filepath.Walk of files/home then files/workspace),
// mode 0644, uid/gid 1000, mtime epoch, Go archive/tar + compress/gzip defaults.
package main

import (
	"archive/tar"
	"compress/gzip"
	"os"
	"path/filepath"
	"time"
)

func main() {
	kit, out, tarOut := os.Args[1], os.Args[2], os.Args[3]
	f, _ := os.Create(out)
	tf, _ := os.Create(tarOut)
	zw, _ := gzip.NewWriterLevel(f, gzip.BestCompression)
	both := multi{zw, tf}
	tw := tar.NewWriter(both)
	for _, sub := range [][2]string{{"files/home", "home/agent/"}, {"files/workspace", "workspace/"}} {
		root := filepath.Join(kit, sub[0])
		filepath.Walk(root, func(p string, info os.FileInfo, err error) error {
			if err != nil || info.IsDir() {
				return nil
			}
			rel, _ := filepath.Rel(root, p)
			data, _ := os.ReadFile(p)
			tw.WriteHeader(&tar.Header{Name: sub[1] + filepath.ToSlash(rel), Mode: 0o644, Uid: 1000, Gid: 1000, Size: int64(len(data)), ModTime: time.Unix(0, 0), Typeflag: tar.TypeReg})
			tw.Write(data)
			return nil
		})
	}
	tw.Close()
	zw.Close()
	f.Close()
	tf.Close()
}

type multi struct{ a, b interface{ Write([]byte) (int, error) } }

func (m multi) Write(p []byte) (int, error) { m.b.Write(p); return m.a.Write(p) }
