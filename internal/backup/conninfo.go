package backup

import (
	"errors"
	"net/url"
	"sort"
	"strings"
)

// libpqKeywords are the connection parameters libpq (and so pg_dump and
// pg_restore) understands. DATABASE_URL is read by pgx, which knows more
// (pool_max_conns, statement_cache_capacity, ...) and sends unknown ones
// to the server as settings; libpq refuses a connection string with any
// parameter it does not know, so the others are dropped.
var libpqKeywords = map[string]bool{
	"host": true, "hostaddr": true, "port": true, "dbname": true, "user": true, "passfile": true,
	"require_auth": true, "channel_binding": true, "connect_timeout": true, "client_encoding": true,
	"options": true, "application_name": true, "fallback_application_name": true,
	"keepalives": true, "keepalives_idle": true, "keepalives_interval": true, "keepalives_count": true,
	"tcp_user_timeout": true, "gssencmode": true, "sslmode": true, "sslnegotiation": true,
	"requiressl": true, "sslcompression": true, "sslcert": true, "sslkey": true, "sslpassword": true,
	"sslcertmode": true, "sslrootcert": true, "sslcrl": true, "sslcrldir": true, "sslsni": true,
	"requirepeer": true, "ssl_min_protocol_version": true, "ssl_max_protocol_version": true,
	"krbsrvname": true, "gsslib": true, "gssdelegation": true, "service": true,
	"target_session_attrs": true, "load_balance_hosts": true,
}

// libpqConn turns a pgx connection string (URL or keyword=value form) into
// one for pg_dump and pg_restore, without the password: that goes to the
// child's PGPASSWORD, since a command line can be read by every user of
// the machine (ps) and an environment only by the same user.
func libpqConn(dsn string) (conninfo, password string, err error) {
	if strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://") {
		return libpqURL(dsn)
	}
	params, err := parseKeywords(dsn)
	if err != nil {
		return "", "", err
	}
	password = params["password"]
	keys := make([]string, 0, len(params))
	for k := range params {
		if libpqKeywords[k] {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = k + "=" + quoteKeyword(params[k])
	}
	return strings.Join(parts, " "), password, nil
}

func libpqURL(dsn string) (conninfo, password string, err error) {
	u, err := url.Parse(dsn)
	if err != nil {
		// Several hosts (h1:5432,h2:5432) are valid for libpq but not for
		// net/url.
		return "", "", errors.New("DATABASE_URL cannot be read as a URL; write it in the key=value form (host=... dbname=...)")
	}
	if u.User != nil {
		password, _ = u.User.Password()
		u.User = url.User(u.User.Username())
	}
	q := u.Query()
	if p := q.Get("password"); p != "" {
		password = p
	}
	for k := range q {
		if !libpqKeywords[k] {
			q.Del(k)
		}
	}
	u.RawQuery = q.Encode()
	return u.String(), password, nil
}

// parseKeywords reads a keyword=value connection string the way libpq
// does: pairs separated by white space, spaces allowed around '=', a value
// either single-quoted or running to the next space, backslash escaping
// the next character in both.
func parseKeywords(s string) (map[string]string, error) {
	params := map[string]string{}
	i := 0
	skipSpace := func() {
		for i < len(s) && (s[i] == ' ' || s[i] == '\t' || s[i] == '\n' || s[i] == '\r' || s[i] == '\f' || s[i] == '\v') {
			i++
		}
	}
	for {
		skipSpace()
		if i >= len(s) {
			return params, nil
		}
		start := i
		for i < len(s) && s[i] != '=' && s[i] != ' ' && s[i] != '\t' && s[i] != '\n' {
			i++
		}
		key := s[start:i]
		skipSpace()
		if i >= len(s) || s[i] != '=' || key == "" {
			return nil, errors.New("DATABASE_URL: a keyword without a value (" + key + ")")
		}
		i++
		skipSpace()
		var val strings.Builder
		if i < len(s) && s[i] == '\'' {
			i++
			for {
				if i >= len(s) {
					return nil, errors.New("DATABASE_URL: an unterminated quoted value")
				}
				if s[i] == '\\' && i+1 < len(s) {
					val.WriteByte(s[i+1])
					i += 2
					continue
				}
				if s[i] == '\'' {
					i++
					break
				}
				val.WriteByte(s[i])
				i++
			}
		} else {
			for i < len(s) && s[i] != ' ' && s[i] != '\t' && s[i] != '\n' && s[i] != '\r' && s[i] != '\f' && s[i] != '\v' {
				if s[i] == '\\' && i+1 < len(s) {
					i++
				}
				val.WriteByte(s[i])
				i++
			}
		}
		params[key] = val.String()
	}
}

// quoteKeyword quotes a value for a keyword=value connection string.
func quoteKeyword(v string) string {
	return "'" + strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace(v) + "'"
}
