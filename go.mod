module github.com/servesim/servesim

go 1.26

require (
	github.com/go-echarts/go-echarts/v2 v2.6.7 // indirect
	github.com/syumai/workers v0.32.0 // indirect
	github.com/vugu/vugu v0.4.0 // indirect
	github.com/vugu/xxhash v0.0.0-20191111030615-ed24d0179019 // indirect
)
