// Command benchbare is the baseline of `make bench`: a bare fiber app whose
// only handler returns a short string. The portal's start page is measured
// against it with the same load generator in the same run.
package main

import (
	"flag"
	"log"

	"github.com/gofiber/fiber/v2"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:8099", "listen address")
	flag.Parse()
	app := fiber.New(fiber.Config{DisableStartupMessage: true})
	app.Get("/", func(c *fiber.Ctx) error { return c.SendString("ok") })
	log.Fatal(app.Listen(*addr))
}
