-- wrk: PUT /users/12 (unconditional replace) with the chapter's user document.
wrk.method = "PUT"
wrk.headers["Content-Type"] = "application/json"
wrk.body = '{"firstName":"John","lastName":"Smith","address":{"streetAddress":"21 2nd Street","city":"New York","state":"NY","postalCode":10021},"phoneNumbers":["212 555-1234","646 555-4567"]}'
wrk.path = "/users/12"
-- Writes need a session: ZTM_TOKEN (user 12's, from POST /sessions).
wrk.headers["Authorization"] = "Bearer " .. (os.getenv("ZTM_TOKEN") or "")
