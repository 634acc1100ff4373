-- The mime phase: outgoing messages (sent by an authenticated user or
-- from smtp_relay_networks) get a disclaimer.  A multipart message gets
-- it as a text part of its own at the end; a plain text message gets it
-- appended to its text (re-encoded as the text was: quoted-printable,
-- base64 or as is).  Incoming messages are left alone.  Loaded with
--
--     mail { lua_script mime conf/lua/disclaimer.lua; ... }

local disclaimer = "This message is confidential.  If you are not its "
    .. "addressee, please delete it\nand tell the sender.\n"

return function(msg)
    if not msg.outgoing then
        return
    end

    local root = msg.root
    local ctype = root:content_type()

    if root:is_multipart() and ctype:match("^multipart/mixed") then
        root:add_part{ content_type = "text/plain", body = disclaimer,
                       disposition = "inline" }

    elseif ctype == "text/plain" then
        local text = root:body()

        if text:sub(-1) ~= "\n" then
            text = text .. "\n"
        end

        root:set_body(text .. "\n-- \n" .. disclaimer)
    end
end
