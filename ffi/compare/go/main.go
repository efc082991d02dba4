package main

import (
	"context"
	"fmt"
	"log"
	"time"

	"secllama"
)

func main() {
	chat := secllama.NewConversation(secllama.Spawn(secllama.RunnerConfig{}))
	defer chat.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	show := func(p string) bool { fmt.Print(p); return false }
	chat.Say(ctx, "Name a primary color, in one word.", show)
	chat.Say(ctx, "And another one?", show)
	if err := chat.Err(); err != nil {
		log.Fatal(err)
	}
}
