-- The mime phase as a notifier: a message larger than a limit raises a
-- status message (tern.status: logged at once and kept in the status
-- table of tern.db for the status monitor) and tells the postmaster by
-- mail (tern.send_message: delivered before the function goes on).  The
-- message itself is delivered unchanged.  Loaded with
--
--     mail { lua_script mime conf/lua/large_message.lua; ... }

local limit = 1024 * 1024       -- bytes
local postmaster = "postmaster@example.test"

return function(msg)
    if msg.size <= limit then
        return
    end

    local text = string.format("large message %s (%d bytes) from <%s>",
                               msg.id, msg.size, msg.from)

    tern.status(text, "warn")

    local ok, err = tern.send_message{
        from = postmaster,
        to = postmaster,
        subject = "Large message " .. msg.id,
        body = text .. "\n",
    }

    if not ok then
        tern.log("error", "notice to the postmaster not sent: ", err)
    end
end
