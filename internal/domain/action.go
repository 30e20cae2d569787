package domain

import "strconv"

// Action is what an audit entry records. The values are stored in
// audit_log.action and hashed into its chain, so they never change; an
// action is added here, never spelled where it is recorded.
type Action string

// Accounts and sessions.
const (
	Login             Action = "login"
	LoginFailed       Action = "login.failed"        // a wrong password or code for a known address
	LoginRecoveryCode Action = "login.recovery_code" // a recovery code stood in for the second factor
	Logout            Action = "logout"
	LogoutEverywhere  Action = "logout.everywhere"
	PasswordChange    Action = "password.change"
)

// An admin's changes of accounts of their office (the object is the
// account).
const (
	StaffCreate        Action = "staff.create"
	StaffPasswordReset Action = "staff.password_reset"
	StaffTOTPReset     Action = "staff.totp_reset"
	StaffEnable        Action = "staff.enable"
	StaffDisable       Action = "staff.disable"
	StaffTOTPOptional  Action = "staff.totp_optional"
	StaffTOTPRequired  Action = "staff.totp_required"
)

// Reads of case data: every one is recorded before anything is shown.
const (
	CaseRead           Action = "case.read"
	AttachmentDownload Action = "attachment.download"
	InboxRead          Action = "inbox.read"
	InboxSearch        Action = "inbox.search" // who searched is recorded, never what for
	APISubmissionsList Action = "api.submissions.list"
	AuditRead          Action = "audit.read"
	MailRefusalsRead   Action = "mail.refusals.read"
	RetentionDueRead   Action = "retention.due.read"
)

// Changes of a case (the object is the case).
const (
	CaseNote     Action = "case.note"
	CaseAssign   Action = "case.assign"
	CaseHoldSet  Action = "case.hold.set"
	CaseHoldLift Action = "case.hold.lift"
	CaseAnswer   Action = "case.answer" // the citizen answered a Rückfrage
	CaseDeleted  Action = "case.deleted"
)

// Video consultations (the object is the consultation). What was said or
// shown is never recorded; these say only who planned, changed, admitted,
// turned away and ended.
const (
	VideoCreate     Action = "video.create"
	VideoReschedule Action = "video.reschedule"
	VideoCancel     Action = "video.cancel"
	VideoResend     Action = "video.resend" // the invitation went out again
	VideoGuest      Action = "video.guest"  // a link for an interpreter or companion
	VideoAdmit      Action = "video.admit"
	VideoDeny       Action = "video.deny"
	VideoEnd        Action = "video.end"
)

// An office's appointments (the object is the appointment): the reads
// of who booked them, the office's cancellations and its check-in (the
// citizen came, or did not). The reason of a cancellation stays with the
// appointment, never here.
const (
	AppointmentsList  Action = "appointments.list"
	AppointmentRead   Action = "appointment.read"
	AppointmentCancel Action = "appointment.cancel"
	AppointmentCame   Action = "appointment.came"
	AppointmentNoShow Action = "appointment.no_show"
	AppointmentWalkIn Action = "appointment.walk_in" // booked by staff for someone at the counter
	// Appointments offered to the citizen of a case, and such an offer
	// withdrawn (the object is the case).
	AppointmentOffer         Action = "appointment.offer"
	AppointmentOfferWithdraw Action = "appointment.offer_withdraw"
)

// The office admin's changes of a calendar (the object is the calendar):
// its weekly slots, its times (slot length, buffer, notice, horizon), and
// the days it is closed.
const (
	CalendarWeek          Action = "calendar.week"
	CalendarTimes         Action = "calendar.times"
	CalendarClosureAdd    Action = "calendar.closure_add"
	CalendarClosureRemove Action = "calendar.closure_remove"
)

// The system's own work.
const (
	DatabaseBackup  Action = "database.backup"
	DatabaseRestore Action = "database.restore"
)

// Exports: the action is a family, one entry per format (see Export).
const (
	CaseExport         Action = "export"
	RetentionDueExport Action = "retention.due.export"
)

// CaseStatus is the action of moving a case to status to:
// "case.status.abgeschlossen".
func CaseStatus(to Status) Action { return Action("case.status." + string(to)) }

// Export is the action of export family x in format ("csv", "json"):
// "export.csv".
func Export(x Action, format string) Action { return Action(string(x) + "." + format) }

// MailRefused is the action of a mail of template the relay refused for
// good: "mail.refused.receipt".
func MailRefused(template string) Action { return Action("mail.refused." + template) }

// OfficeNotify is the action of an admin choosing how the office hears of
// new cases ("instant", "daily", "off"): "office.notify.daily".
func OfficeNotify(mode string) Action { return Action("office.notify." + mode) }

// RetentionPeriod is the action of setting a service's retention period
// to months (0: back to the form's default): "retention.period.24m",
// "retention.period.default".
func RetentionPeriod(months int) Action {
	if months == 0 {
		return "retention.period.default"
	}
	return Action("retention.period." + strconv.Itoa(months) + "m")
}
