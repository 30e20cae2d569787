// Package mail writes and sends the portal's notification e-mails:
// MIME encoding with go-message (plain text and HTML alternatives,
// attachments, encoded headers; mime.go), delivery over SMTP with go-smtp
// (STARTTLS, implicit TLS, AUTH, connection reuse), or, in development,
// into the development mailbox. Mails are River jobs (compose.go), inserted
// in the transaction of the event that causes them.
//
// No mail carries health data or answers: a mail names the service and the
// reference number and links to the token-protected page.
package mail
