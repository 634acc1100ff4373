-- The mime phase: attachments named *.exe (any case) are renamed to
-- NAME.exe.txt and get the content type application/octet-stream, so
-- that no client runs them with a click.  Loaded with
--
--     mail { lua_script mime conf/lua/exe_rename.lua; ... }
--
-- Only the changed fields of such a part are written again; every other
-- byte of the message stays as it came.

return function(msg)
    for _, part in ipairs(msg:parts()) do
        local name = part:filename()

        if name and name:lower():match("%.exe$") then
            part:set_filename(name .. ".txt")
            part:set_content_type("application/octet-stream")
            tern.log("info", "renamed attachment \"" .. name .. "\" in "
                     .. msg.id)
        end
    end
end
