-- The login phase: the name a client logs in with (IMAP, POP3, SMTP AUTH)
-- becomes the name of the account to check.  Loaded with
--
--     mail { lua_script login conf/lua/login.lua; ... }
--
-- The function gets { protocol = "imap"|"pop3"|"smtp", name =, ip =,
-- tls = true|false } and returns the name to check, nil (unchanged), or
-- false and a message (refused: the login fails as with a wrong
-- password; the message goes to the log only).  The password never
-- reaches a script.

-- addresses that log in under another account's name
local aliases = {
    ["john.doe@example.com"] = "jdoe@example.com",
    ["sales@example.com"] = "jdoe@example.com",
}

-- domains where "first.last" logs in as "flast"
local initial_domains = {
    ["example.net"] = true,
}

-- names that may not log in at all, with the reason for the log
local blocked = {
    ["mallory@example.com"] = "account closed",
}

return function(login)
    -- "John.Doe@Example.COM" and "john.doe@example.com" are one user
    local name = login.name:lower()

    if blocked[name] then
        return false, "blocked: " .. blocked[name]
    end

    if aliases[name] then
        return aliases[name]
    end

    local first, last, domain = name:match("^(%a)%a*%.(%a+)@(.+)$")

    if first and initial_domains[domain] then
        return first .. last .. "@" .. domain
    end

    return name
end
