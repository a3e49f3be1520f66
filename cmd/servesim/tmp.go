package main

import "errors"

var errNotYet = errors.New("serve: not built yet")
