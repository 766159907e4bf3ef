module umbra

go 1.26.8

require gopkg.in/yaml.v3 v3.0.1

require (
	go.etcd.io/bbolt v1.4.3 // indirect
	golang.org/x/sys v0.29.0 // indirect
)
