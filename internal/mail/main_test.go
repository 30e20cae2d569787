package mail_test

import (
	"os"
	"testing"

	"github.com/gesundheitsamt/portal/internal/store/storetest"
)

// The video mails' tests enqueue and compose against a real database.
func TestMain(m *testing.M) { os.Exit(storetest.Main(m)) }
