// Command ui is servesim's page, built with GOOS=js GOARCH=wasm (see
// main_wasm.go); natively it is empty.
package main
