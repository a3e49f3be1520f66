//go:build js && wasm

// Command ui is servesim's page: the Vugu render loop around web/ui.Root.
// Wiring only; the simulation runs in the Web Worker (wasm/worker).
package main

import (
	"github.com/vugu/vugu"
	"github.com/vugu/vugu/domrender"

	"github.com/servesim/servesim/web/ui"
)

func main() {
	renderer, err := domrender.New("#vugu_mount_point")
	if err != nil {
		panic(err)
	}
	defer renderer.Release()
	buildEnv, err := vugu.NewBuildEnv(renderer.EventEnv())
	if err != nil {
		panic(err)
	}
	root := &ui.Root{}
	for ok := true; ok; ok = renderer.EventWait() {
		if err := renderer.Render(buildEnv.RunBuild(root)); err != nil {
			panic(err)
		}
		root.AfterRender()
	}
}
